package main

// serve --whip / --whep: mounts package whip's handler beside the room
// signalling. WHIP/WHEP sessions join rooms as ordinary participants over
// a private loopback listener (plain HTTP even when the public side is
// https, so no certificate trust is needed), whose URL carries a random
// key and the client's IP: the room's per-IP connection limit then counts
// each session against its real client.

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/videochat/videochat/capture"
	"github.com/videochat/videochat/internal/rxbatch"
	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/signal/proto"
	"github.com/videochat/videochat/whip"
)

// whipFlags enable and tune the WHIP/WHEP endpoints.
type whipFlags struct {
	whip, whep  bool
	maxSessions int
	udpPort     int
	publicIPs   []string
	readBatch   time.Duration
}

func (f *whipFlags) register(fl *pflag.FlagSet) {
	fl.BoolVar(&f.whip, "whip", false, "accept WHIP publishers (OBS, GStreamer, browsers) at POST /whip/{room}?name=N: each appears in the room as a participant")
	fl.BoolVar(&f.whep, "whep", false, "play room participants to WHEP players at POST /whep/{room}/{name}")
	fl.IntVar(&f.maxSessions, "whip-max-sessions", whip.DefaultMaxSessions, "WHIP and WHEP sessions open at once")
	fl.IntVar(&f.udpPort, "whip-udp-port", 0, "carry the media of every WHIP/WHEP session on this one UDP port (0: an ephemeral port per connection)")
	fl.DurationVar(&f.readBatch, "whip-read-batch", whip.DefaultReadBatch, "coalesce the reads of WHIP/WHEP media sockets over this period (one recvmmsg per period while media flows; adds up to this much delay and measured no CPU gain, BENCHMARKS.md; 0: read each datagram as it comes)")
	fl.StringSliceVar(&f.publicIPs, "whip-public-ip", nil, "announce these addresses instead of the interfaces' in WHIP/WHEP answers (behind 1:1 NAT, e.g. a cloud VM)")
}

// whipService is the running handler and its private signalling listener.
type whipService struct {
	h   *whip.Handler
	srv *http.Server
	ln  net.Listener
	mux io.Closer // the shared UDP port, nil without --whip-udp-port
}

// start builds the service, or returns nil when neither endpoint is on.
func (f *whipFlags) start(sig *signal.Server, listenAddr, tokenSecret string, ice func(string) []proto.ICEServer, log *slog.Logger) (*whipService, error) {
	if !f.whip && !f.whep {
		return nil, nil
	}
	for _, ip := range f.publicIPs {
		if net.ParseIP(ip) == nil {
			return nil, withCode(exitUsage, fmt.Errorf("--whip-public-ip %q: not an IP address", ip))
		}
	}
	api, udpMux, err := f.api(listenAddr, log)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		closeQuietly(udpMux)
		return nil, withCode(exitError, fmt.Errorf("whip: internal listener: %w", err))
	}
	var kb [16]byte
	_, _ = rand.Read(kb[:])
	key := hex.EncodeToString(kb[:])
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{key}/{ip}/ws/{room}", func(w http.ResponseWriter, r *http.Request) {
		ip := net.ParseIP(r.PathValue("ip"))
		if subtle.ConstantTimeCompare([]byte(r.PathValue("key")), []byte(key)) != 1 || ip == nil {
			http.NotFound(w, r)
			return
		}
		r.RemoteAddr = net.JoinHostPort(ip.String(), "0")
		sig.ServeHTTP(w, r)
	})
	base := "http://" + ln.Addr().String() + "/" + key + "/"
	h, err := whip.New(whip.Config{
		WHIP:        f.whip,
		WHEP:        f.whep,
		API:         api,
		Server:      func(ip string) string { return base + url.PathEscape(ip) },
		TokenSecret: []byte(tokenSecret),
		ICEServers:  ice,
		MaxSessions: f.maxSessions,
		Logger:      log,
	})
	if err != nil {
		_ = ln.Close()
		closeQuietly(udpMux)
		return nil, withCode(exitUsage, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() { _ = srv.Serve(ln) }()
	log.Info("whip/whep enabled", "whip", f.whip, "whep", f.whep)
	return &whipService{h: h, srv: srv, ln: ln, mux: udpMux}, nil
}

// mount routes /whip/ and /whep/ to the handler (nil: nothing).
func (s *whipService) mount(mux *http.ServeMux) {
	if s == nil {
		return
	}
	mux.Handle("/whip/", s.h)
	mux.Handle("/whep/", s.h)
}

// watch exports the open sessions per kind on serve's metrics registry.
func (s *whipService) watch(o *observability) {
	if s == nil {
		return
	}
	for _, kind := range []string{"whip", "whep"} {
		o.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "videochat_whip_sessions",
			Help:        "Open WHIP (ingest) and WHEP (egress) sessions.",
			ConstLabels: prometheus.Labels{"kind": kind},
		}, func() float64 { return float64(s.h.SessionsOf(kind)) }))
	}
}

// close ends every session (their participants leave the rooms); the
// internal listener closes after the signalling server shut down.
func (s *whipService) close() {
	if s == nil {
		return
	}
	s.h.Close()
}

func (s *whipService) closeListener() {
	if s == nil {
		return
	}
	if err := s.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		_ = s.ln.Close()
	}
	closeQuietly(s.mux)
}

func closeQuietly(c io.Closer) {
	if c != nil {
		_ = c.Close()
	}
}

// api builds the server's WebRTC API: the native peer's codecs (so a
// publisher can only send what the room's receivers accept), the
// forwarding interceptors (whip.RegisterInterceptors: NACK, reports, TWCC
// feedback, simulcast header extensions), whip.NewNet's sockets with
// reads coalesced over --whip-read-batch (internal/rxbatch), loopback
// candidates when the server listens on loopback, and --whip-udp-port /
// --whip-public-ip. The UDP mux,
// when there is one, must be closed after the last session.
func (f *whipFlags) api(listenAddr string, log *slog.Logger) (*webrtc.API, io.Closer, error) {
	me := &webrtc.MediaEngine{}
	if err := capture.RegisterCodecs(me); err != nil {
		return nil, nil, withCode(exitError, err)
	}
	quiet, err := whip.NewNet() // quiet UDP writes (whip/udpnet_linux.go)
	if err != nil {
		return nil, nil, withCode(exitError, err)
	}
	udpNet := rxbatch.NewNet(quiet, rxbatch.Config{Period: f.readBatch, Logger: log}) // coalesced reads
	ir := &interceptor.Registry{}
	if err := whip.RegisterInterceptors(me, ir, peer.TWCCFeedbackConfig{Arrival: udpNet.Arrivals().Lookup}); err != nil {
		return nil, nil, withCode(exitError, err)
	}
	se := webrtc.SettingEngine{}
	se.SetNet(udpNet)
	loopback := false
	if host, _, err := net.SplitHostPort(listenAddr); err == nil {
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			loopback = true
			se.SetIncludeLoopbackCandidate(true)
		}
	}
	if len(f.publicIPs) > 0 {
		se.SetNAT1To1IPs(f.publicIPs, webrtc.ICECandidateTypeHost)
	}
	var closer io.Closer
	if f.udpPort > 0 {
		opts := []ice.UDPMuxFromPortOption{ice.UDPMuxFromPortWithNet(udpNet)}
		if loopback {
			opts = append(opts, ice.UDPMuxFromPortWithLoopback())
		}
		mux, err := ice.NewMultiUDPMuxFromPort(f.udpPort, opts...)
		if err != nil {
			return nil, nil, withCode(exitError, fmt.Errorf("--whip-udp-port %d: %w", f.udpPort, err))
		}
		se.SetICEUDPMux(mux)
		closer = mux
		log.Info("whip: media on one UDP port", "port", f.udpPort)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), closer, nil
}
