package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/videochat/videochat/internal/bench/signalbench"
	"github.com/videochat/videochat/internal/childproc"
	"github.com/videochat/videochat/internal/redistest"
)

// newBenchCmd is `videochat bench`: loopback benchmarks.
func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Loopback benchmarks of the signalling server (calls: videochat-bench)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newBenchSignalCmd(), newBenchSinkCmd())
	return cmd
}

// benchSignalFlags are the flags of `videochat bench signal`.
type benchSignalFlags struct {
	cfg        signalbench.Config
	sweep      []float64
	backend    string
	redisURL   string
	json       bool
	plotDir    string
	selfTest   bool
	url        string
	serverPID  int
	serverArgs []string
	serverBin  string
	timeout    time.Duration
	cpuProfile string
	log        logFlags
}

func newBenchSignalCmd() *cobra.Command {
	f := benchSignalFlags{}
	cmd := &cobra.Command{
		Use:   "signal",
		Short: "Load the signalling server: joins/s, memory per idle peer, relay throughput and latency",
		Long: `Starts "videochat serve" as a child process pinned to the first CPU with GOMAXPROCS=1
(and redis-server beside it for --backend redis), pins itself to the other CPUs, connects
--peers peers in rooms of --room-size, measures the server's RSS per idle peer, then makes
every peer send directed candidate messages to a room-mate and measures relay latency.
The server allows 50 messages/s per connection by default: keep the per-peer rate
(total/peers) below that. --self-test runs the same load against a trivial echo server
to show the generator's own ceiling.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchSignal(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.cfg.Peers, "peers", signalbench.DefaultPeers, "connected peers")
	fl.IntVar(&f.cfg.RoomSize, "room-size", signalbench.DefaultRoomSize, "peers per room")
	fl.Float64Var(&f.cfg.Rate, "rate", signalbench.DefaultRate, "directed messages per second each peer sends (without --sweep)")
	fl.Float64SliceVar(&f.sweep, "sweep", nil, "total offered messages/s of each load step, e.g. 10000,30000,60000 (overrides --rate)")
	fl.DurationVar(&f.cfg.Duration, "duration", signalbench.DefaultDuration, "length of each load step")
	fl.DurationVar(&f.cfg.Idle, "idle", signalbench.DefaultIdle, "idle time before the memory is measured")
	fl.IntVar(&f.cfg.JoinConcurrency, "join-concurrency", signalbench.DefaultJoinConcurrency, "joins in flight while connecting")
	fl.IntVar(&f.cfg.Probes, "probes", signalbench.DefaultProbes, "joins made one at a time once all peers are connected (-1: none)")
	fl.IntVar(&f.cfg.Shards, "shards", signalbench.DefaultShards, "sender goroutines")
	fl.DurationVar(&f.cfg.Tick, "tick", signalbench.DefaultTick, "senders' pacing interval")
	fl.StringVar(&f.backend, "backend", "memory", "server backend: memory or redis")
	fl.StringVar(&f.redisURL, "redis-url", "", "with --backend redis: use this Redis instead of starting redis-server")
	fl.BoolVar(&f.json, "json", false, "print the report as JSON")
	fl.StringVar(&f.plotDir, "plot", "", "write the latency-against-load plot (SVG) to this directory")
	fl.BoolVar(&f.selfTest, "self-test", false, "load a trivial echo server instead, to measure the generator itself")
	fl.StringVar(&f.url, "url", "", "load an already running server at this http:// URL instead of starting one")
	fl.IntVar(&f.serverPID, "server-pid", 0, "with --url: the server's process id, for its memory and CPU")
	fl.StringArrayVar(&f.serverArgs, "server-arg", nil, "extra argument for the started server (repeatable)")
	fl.StringVar(&f.serverBin, "server-bin", "", "videochat binary to start as the server (default: this one), e.g. an older build to compare against")
	fl.DurationVar(&f.timeout, "timeout", 0, "hard cap on the whole run (default: twice the planned time)")
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write the generator's own CPU profile to this file")
	fl.StringVar(&f.log.Level, "log-level", "warn", "log level: debug, info, warn, error")
	fl.StringVar(&f.log.Format, "log-format", "text", "log format: text or json")
	return cmd
}

func runBenchSignal(ctx context.Context, f benchSignalFlags) error {
	log, err := f.log.Logger(os.Stderr)
	if err != nil {
		return err
	}
	if f.backend != "memory" && f.backend != "redis" {
		return withCode(exitUsage, fmt.Errorf("--backend %q: want memory or redis", f.backend))
	}
	f.cfg.Sweep, f.cfg.Logger = f.sweep, log
	timeout := f.timeout
	if timeout <= 0 {
		timeout = 2 * f.cfg.Budget()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var notes []string
	limit, err := signalbench.RaiseNoFile(uint64(2*(f.cfg.Peers+max(f.cfg.Probes, 0)) + 1024))
	if err != nil {
		notes = append(notes, err.Error())
	}
	serverCPUs, genCPUs := splitCPUs(&notes)

	target, backend, stop, err := startTarget(ctx, f, serverCPUs, &notes)
	if err != nil {
		return withCode(exitError, err)
	}
	defer stop()
	if f.cpuProfile != "" {
		fh, err := os.Create(f.cpuProfile)
		if err != nil {
			return withCode(exitUsage, err)
		}
		defer fh.Close()
		if err := pprof.StartCPUProfile(fh); err != nil {
			return withCode(exitError, err)
		}
		defer pprof.StopCPUProfile()
	}
	rep, runErr := signalbench.Run(ctx, f.cfg, target)
	if rep == nil {
		return withCode(exitError, runErr)
	}
	rep.Setup.Backend, rep.Setup.NoFileLimit = backend, limit
	if target.RSS != nil {
		rep.Setup.ServerCPUs, rep.Setup.GeneratorCPUs = cpuText(serverCPUs), cpuText(genCPUs)
	}
	rep.Notes = append(notes, rep.Notes...)
	if err := writeBenchSignal(rep, f); err != nil {
		return withCode(exitError, err)
	}
	if runErr != nil {
		return withCode(exitError, fmt.Errorf("bench stopped early: %w", runErr))
	}
	return nil
}

// splitCPUs gives the server the first CPU and pins this process (the load
// generator) to the others; with a single CPU nothing is pinned.
func splitCPUs(notes *[]string) (server, gen []int) {
	cpus, err := childproc.CPUs()
	if err != nil || len(cpus) < 2 {
		*notes = append(*notes, "fewer than 2 CPUs available: server and generator are not pinned apart")
		return nil, nil
	}
	server, gen = cpus[:1], cpus[1:]
	if err := childproc.Pin(os.Getpid(), gen); err != nil {
		*notes = append(*notes, "pinning the generator: "+err.Error())
		return server, nil
	}
	runtime.GOMAXPROCS(len(gen))
	return server, gen
}

// startTarget starts the server (and Redis) or attaches to --url. stop
// ends what was started.
func startTarget(ctx context.Context, f benchSignalFlags, cpus []int, notes *[]string) (signalbench.Target, string, func(), error) {
	if f.url != "" {
		t := signalbench.Target{URL: f.url, Goroutines: func() (int, error) { return signalbench.Goroutines(f.url) }}
		if f.serverPID > 0 {
			t = signalbench.ProcessTarget(f.url, f.serverPID)
		}
		return t, "external", func() {}, nil
	}
	self, err := os.Executable()
	if err != nil {
		return signalbench.Target{}, "", nil, err
	}
	if f.serverBin != "" {
		self = f.serverBin
		*notes = append(*notes, "server binary "+f.serverBin)
	}
	var children []*childproc.Child
	stop := func() {
		for i := len(children) - 1; i >= 0; i-- {
			children[i].Close()
		}
	}
	args := []string{"serve", "--addr", "127.0.0.1:0", "--log-level", "error", "--max-peers", strconv.Itoa(max(f.cfg.RoomSize, 2))}
	backend := f.backend
	switch {
	case f.selfTest:
		args, backend = []string{"bench", "signal-sink", "--addr", "127.0.0.1:0"}, "echo (self-test)"
	case f.backend == "redis":
		url := f.redisURL
		if url == "" {
			r, rurl, err := redistest.Launch(ctx, redistest.LaunchConfig{CPUs: cpus, MaxClients: 10000})
			if err != nil {
				return signalbench.Target{}, "", nil, err
			}
			children = append(children, r)
			url = rurl
			*notes = append(*notes, "redis-server shares the server's CPU")
		}
		args = append(args, "--redis", url)
	}
	srv, err := signalbench.StartServer(ctx, self, append(args, f.serverArgs...), cpus)
	if err != nil {
		stop()
		return signalbench.Target{}, "", nil, err
	}
	children = append(children, srv)
	if len(cpus) > 0 {
		*notes = append(*notes, "server pinned with "+srv.Pinning)
	}
	return signalbench.ProcessTarget(srv.Ready, srv.PID), backend, stop, nil
}

// writeBenchSignal prints the report and draws the plot.
func writeBenchSignal(rep *signalbench.Report, f benchSignalFlags) error {
	if f.plotDir != "" && len(rep.Load) > 0 {
		if err := os.MkdirAll(f.plotDir, 0o755); err != nil {
			return err
		}
		name := filepath.Join(f.plotDir, "signal-latency.svg")
		if err := writeFileWith(name, func(w *os.File) error { return signalbench.WriteSVG(w, rep) }); err != nil {
			return err
		}
		rep.Notes = append(rep.Notes, "plot written to "+name)
	}
	if f.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteText(os.Stdout)
}

func writeFileWith(name string, write func(*os.File) error) error {
	fh, err := os.Create(name)
	if err != nil {
		return err
	}
	return errors.Join(write(fh), fh.Close())
}

func cpuText(cpus []int) string {
	if len(cpus) == 0 {
		return ""
	}
	s := strconv.Itoa(cpus[0])
	for _, c := range cpus[1:] {
		s += "," + strconv.Itoa(c)
	}
	return s
}

// newBenchSinkCmd is the hidden echo server that --self-test starts.
func newBenchSinkCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:    "signal-sink",
		Short:  "Trivial echo server for bench signal --self-test",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchSink(cmd.Context(), addr)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "listen address")
	return cmd
}

func runBenchSink(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return withCode(exitError, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws/{room}", signalbench.NewSink())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	fmt.Printf("videochat: serving on http://%s/ (bench sink)\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return withCode(exitError, err)
	case <-ctx.Done():
	}
	_ = srv.Close()
	<-errc
	return nil
}
