package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/signal/redisbackend"
	"github.com/videochat/videochat/web"
)

// serveFlags are the flags of `videochat serve`.
type serveFlags struct {
	addr           string
	maxPeers       int
	allowedOrigins []string
	redisURL       string
	ice            iceFlags
	limits         limitFlags
	tls            tlsFlags
	pprof          bool
	whip           whipFlags
	log            logFlags
}

func newServeCmd() *cobra.Command {
	f := serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the room signalling server and the browser client",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", envOr("VIDEOCHAT_ADDR", "127.0.0.1:8080"), "listen address (env VIDEOCHAT_ADDR)")
	fl.IntVar(&f.maxPeers, "max-peers", 8, "peers per room")
	fl.StringSliceVar(&f.allowedOrigins, "allowed-origins", nil, "extra allowed browser Origins (scheme://host[:port]); the server's own host is always allowed")
	fl.StringVar(&f.redisURL, "redis", os.Getenv("VIDEOCHAT_REDIS"), "share rooms with other servers through Redis, redis://HOST:PORT/DB (env VIDEOCHAT_REDIS)")
	f.ice.register(fl)
	f.limits.register(fl)
	f.tls.register(fl)
	f.whip.register(fl)
	fl.BoolVar(&f.pprof, "pprof", false, "serve Go profiles at /debug/pprof/ (do not expose publicly)")
	fl.StringVar(&f.log.Level, "log-level", "info", "log level: debug, info, warn, error")
	fl.StringVar(&f.log.Format, "log-format", "text", "log format: text or json")
	return cmd
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

func runServe(ctx context.Context, f serveFlags) error {
	log, err := f.log.Logger(os.Stderr)
	if err != nil {
		return err
	}
	backend, err := newBackend(ctx, f.redisURL, log)
	if err != nil {
		return err
	}
	if backend != nil {
		defer backend.Close()
	}
	obs := newObservability()
	if backend != nil {
		obs.watchBackend(backend)
	}
	iceServers, turnServer, err := f.ice.setup(log)
	if err != nil {
		return err
	}
	if turnServer != nil {
		defer turnServer.Close()
		obs.watchTURN(turnServer)
	}
	cfg := signal.Config{
		MaxPeers:       f.maxPeers,
		AllowedOrigins: f.allowedOrigins,
		ICEServers:     iceServers,
		Metrics:        obs.signalMetrics(),
		Logger:         log,
	}
	if err := f.limits.apply(&cfg); err != nil {
		return err
	}
	tlsCfg, err := f.tls.config(f.addr, log)
	if err != nil {
		return err
	}
	if backend != nil {
		cfg.Backend = backend
	}
	if f.limits.returnMemory > 0 { // see memreturn.go
		churn, stop := startMemoryReturn(f.limits.returnMemory, log)
		cfg.ConnChurn = churn
		defer stop()
	}
	sig, err := signal.New(cfg)
	if err != nil {
		return withCode(exitUsage, err)
	}
	ws, err := f.whip.start(sig, f.addr, f.limits.tokenSecret, iceServers, log)
	if err != nil {
		return err
	}
	defer ws.closeListener()
	ws.watch(obs)
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		ws.close()
		return withCode(exitError, fmt.Errorf("listen on %s: %w", f.addr, err))
	}
	scheme := "http"
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
		scheme = "https"
	}
	mux := newMux(sig, backend, obs, f.pprof, log, ws.mount)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	base := scheme + "://" + displayAddr(ln.Addr())
	fmt.Printf("videochat: serving on %s/ — open %s/room/demo in two browser tabs\n", base, base)
	log.Info("serving", "addr", ln.Addr().String(), "max_peers", f.maxPeers)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		ws.close()
		_ = sig.Shutdown(context.Background())
		return withCode(exitError, err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws.close()                 // WHIP/WHEP participants leave their rooms first
	serr := sig.Shutdown(sctx) // hijacked WebSockets are not tracked by http.Server
	herr := srv.Shutdown(sctx)
	<-errc
	if err := errors.Join(herr, serr); err != nil {
		return withCode(exitError, fmt.Errorf("shutdown: %w", err))
	}
	return nil
}

// newBackend connects the Redis backend when url is set; nil selects the
// server's in-memory backend.
func newBackend(ctx context.Context, url string, log *slog.Logger) (*redisbackend.Backend, error) {
	if url == "" {
		return nil, nil
	}
	b, err := redisbackend.New(ctx, redisbackend.Config{URL: url, Logger: log.With("component", "redis")})
	if err != nil {
		return nil, withCode(exitUsage, fmt.Errorf("--redis: %w", err))
	}
	waitReady(ctx, b, 5*time.Second, log)
	return b, nil
}

// waitReady gives the backend up to limit to become ready, so that the
// server does not announce itself before joins can succeed. It serves
// anyway after that (joins get "unavailable" and /readyz says 503).
func waitReady(ctx context.Context, r readiness, limit time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := r.Ready(ctx)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			log.Warn("backend not ready; serving anyway, joins fail with \"unavailable\" until it is", "err", err)
			return
		case <-tick.C:
		}
	}
}

// readiness is what /readyz asks; nil means always ready.
type readiness interface {
	Ready(ctx context.Context) error
}

// newMux routes the server's endpoints.
func newMux(sig *signal.Server, backend *redisbackend.Backend, obs *observability, withPprof bool, log *slog.Logger, extra ...func(*http.ServeMux)) http.Handler {
	mux := http.NewServeMux()
	for _, mount := range extra {
		mount(mux) // e.g. /whip/ and /whep/ (serve_whip.go)
	}
	obs.mount(mux, withPprof)
	mux.Handle("GET /ws/{room}", sig)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	var ready readiness
	if backend != nil {
		ready = backend
	}
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := ready.Ready(ctx); err != nil {
				http.Error(w, "not ready: backend unavailable", http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("/", web.Handler(web.Config{Logger: log.With("component", "web")}))
	return refuseUncleanWS(mux)
}

// displayAddr turns a listen address into something a browser can open.
func displayAddr(a net.Addr) string {
	s := a.String()
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return s
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "127.0.0.1"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + port
}
