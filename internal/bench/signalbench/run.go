package signalbench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/internal/procstat"
)

// bench is the state of one run.
type bench struct {
	cfg    Config
	target Target
	dialer *websocket.Dialer
	rec    *recorder
	peers  []*peer // by index; nil where the join failed

	readers sync.WaitGroup // one per peer reader goroutine

	mu    sync.Mutex
	notes []string
}

// Run benchmarks the server at t as cfg says and returns the report. It
// closes every connection it opened and stops all of its goroutines before
// returning. Ending ctx stops the run early; the report then holds what
// was measured so far, and Run returns ctx's error with it.
func Run(ctx context.Context, cfg Config, t Target) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if t.URL == "" {
		return nil, errors.New("signalbench: Target.URL is empty")
	}
	b := &bench{cfg: cfg, target: t, dialer: newDialer(), rec: newRecorder(),
		peers: make([]*peer, cfg.Peers)}
	defer b.closeAll()
	rep := &Report{Setup: b.setup()}
	log := cfg.Logger

	baseline := b.serverRSS()
	log.Info("joining", "peers", cfg.Peers, "room_size", cfg.RoomSize)
	rep.Join = b.joinAll(ctx)
	if rep.Join.Connected == 0 {
		rep.Notes = b.takeNotes()
		return rep, errors.Join(ctx.Err(), errors.New("signalbench: no peer could join"))
	}
	log.Info("joined", "connected", rep.Join.Connected, "per_second", int(rep.Join.PerSecond))
	if sleep(ctx, cfg.Idle) {
		rep.Idle = b.idle(baseline, rep.Join.Connected)
		rep.Join.Probe = b.probe(ctx)
		b.assignTargets()
	}
	for _, rate := range cfg.steps() {
		if ctx.Err() != nil {
			break
		}
		log.Info("load step", "offered_per_second", rate)
		rep.Load = append(rep.Load, b.loadStep(ctx, rate))
	}
	rep.Notes = b.takeNotes()
	return rep, ctx.Err()
}

// idle measures the server at rest with n peers connected.
func (b *bench) idle(baseline *int64, n int) IdleReport {
	r := IdleReport{BaselineRSS: baseline, RSS: b.serverRSS()}
	if r.RSS != nil && baseline != nil && n > 0 {
		v := float64(*r.RSS-*baseline) / float64(n)
		r.BytesPerPeer = &v
	}
	if f := b.target.Goroutines; f != nil {
		if g, err := f(); err == nil {
			r.Goroutines = &g
		} else {
			b.note("server goroutines: %v", err)
		}
	}
	return r
}

// closeAll drops every connection and waits for the readers.
func (b *bench) closeAll() {
	for _, p := range b.peers {
		if p != nil {
			p.close()
		}
	}
	b.readers.Wait()
}

func (b *bench) serverRSS() *int64 {
	if b.target.RSS == nil {
		return nil
	}
	v, err := b.target.RSS()
	if err != nil {
		b.note("server RSS: %v", err)
		return nil
	}
	return &v
}

// serverShed is the server's shed-message count, or nil if unknown.
func (b *bench) serverShed() *int { return optional(b.target.Shed) }

// serverCPU is the server's CPU time so far, or nil if unknown.
func (b *bench) serverCPU() *time.Duration { return optional(b.target.CPU) }

// optional returns what f reads, or nil when f is nil or fails.
func optional[T any](f func() (T, error)) *T {
	if f == nil {
		return nil
	}
	v, err := f()
	if err != nil {
		return nil
	}
	return &v
}

// note records something that limited or disturbed the run.
func (b *bench) note(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.notes = append(b.notes, fmt.Sprintf(format, args...))
}

func (b *bench) takeNotes() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.notes
}

// setup describes the machine and the run.
func (b *bench) setup() Setup {
	var fs procstat.FS
	l := fs.LoadAvg()
	return Setup{Machine: fs.CPUModel(), CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadAvg: fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2]),
		Target: b.target.URL, Peers: b.cfg.Peers, RoomSize: b.cfg.RoomSize, StepSeconds: b.cfg.Duration.Seconds()}
}

// sleep waits d unless ctx ends first; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
