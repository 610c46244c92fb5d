// Package logtest gives tests a *slog.Logger that writes to the test's
// output at debug level while the test runs (with -v only) and drops lines
// logged after it ended (late pion callbacks) instead of panicking.
package logtest

import (
	"io"
	"log/slog"
	"sync"
	"testing"
)

// New returns the logger for tb.
func New(tb testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	w := &guardedWriter{w: tb.Output()}
	tb.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// guardedWriter passes writes to w until stop.
type guardedWriter struct {
	mu   sync.Mutex
	w    io.Writer
	done bool
}

func (g *guardedWriter) Write(b []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		return len(b), nil
	}
	return g.w.Write(b)
}

func (g *guardedWriter) stop() {
	g.mu.Lock()
	g.done = true
	g.mu.Unlock()
}
