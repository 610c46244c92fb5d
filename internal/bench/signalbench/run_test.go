package signalbench

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/videochat/videochat/signal"
)

// startSignal serves an in-process signalling server for the test.
func startSignal(t *testing.T, maxPeers int) Target {
	t.Helper()
	return startSignalConfig(t, signal.Config{MaxPeers: maxPeers})
}

// startSignalConfig serves an in-process signalling server with cfg.
func startSignalConfig(t *testing.T, cfg signal.Config) Target {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	reg := prometheus.NewRegistry()
	cfg.Metrics = signal.NewMetrics(reg)
	srv, err := signal.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws/{room}", srv)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		hs.Close()
	})
	return Target{URL: hs.URL,
		Goroutines: func() (int, error) { return runtime.NumGoroutine(), nil },
		Shed:       func() (int, error) { return Shed(hs.URL) },
	}
}

func TestRunSmall(t *testing.T) {
	target := startSignal(t, 8)
	cfg := Config{Peers: 50, RoomSize: 5, Rate: 20, Duration: 2 * time.Second, Idle: 100 * time.Millisecond,
		Probes: 10, Drain: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg, target)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Join.Connected != 50 || rep.Join.Failed != 0 {
		t.Fatalf("joined %d, failed %d; want 50, 0 (notes %v)", rep.Join.Connected, rep.Join.Failed, rep.Notes)
	}
	if rep.Join.PerSecond <= 0 || rep.Join.Latency.P99 <= 0 || rep.Join.Probe.Count != 10 || rep.Join.Probe.P50 <= 0 {
		t.Errorf("join report not filled: %+v", rep.Join)
	}
	if rep.Idle.Goroutines == nil || *rep.Idle.Goroutines < 100 {
		t.Errorf("goroutines = %v, want at least two per peer", rep.Idle.Goroutines)
	}
	if len(rep.Load) != 1 {
		t.Fatalf("%d load steps, want 1", len(rep.Load))
	}
	l := rep.Load[0]
	want := int64(50 * 20 * 2)
	if l.Sent < want*9/10 || l.Sent > want {
		t.Errorf("sent %d, want about %d", l.Sent, want)
	}
	if l.Received != l.Sent || l.Lost != 0 {
		t.Errorf("received %d of %d sent (lost %d, errors %v, evictions %v)", l.Received, l.Sent, l.Lost, l.Errors, l.Evictions)
	}
	if l.Latency.Count != uint64(l.Received) || l.Latency.P50 <= 0 || l.Latency.P99 < l.Latency.P50 || l.Latency.Max < l.Latency.P999 {
		t.Errorf("latency not consistent: %+v", l.Latency)
	}
	if l.RelayedRate <= 0 || l.GeneratorCPU <= 0 || len(l.Errors) != 0 || len(l.Evictions) != 0 {
		t.Errorf("load report: %+v", l)
	}
}

// TestRunShed loads a server past its relay cap: the step reports what
// the server shed, which is every message not relayed, and the overloaded
// errors that said so.
func TestRunShed(t *testing.T) {
	target := startSignalConfig(t, signal.Config{MaxPeers: 8, RelayRate: 200, RelayBurst: 20})
	cfg := Config{Peers: 50, RoomSize: 5, Rate: 20, Duration: 2 * time.Second, Idle: 100 * time.Millisecond,
		Probes: -1, Drain: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg, target)
	if err != nil {
		t.Fatal(err)
	}
	l := rep.Load[0]
	if l.Shed == nil || *l.Shed == 0 || *l.Shed != l.Lost {
		t.Fatalf("shed %v, lost %d of %d sent; want every lost message shed", l.Shed, l.Lost, l.Sent)
	}
	if l.Errors["overloaded"] == 0 {
		t.Errorf("errors %v, want overloaded ones", l.Errors)
	}
	if l.Received == 0 {
		t.Error("nothing relayed under the cap")
	}
}
