package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// returnMemoryChurn is the number of connections that must have opened or
// closed since the last return before serve --return-memory-after returns
// memory again: each WebSocket handshake leaves about 15 KiB of garbage, so
// a smaller burst is not worth a full collection.
const returnMemoryChurn = 1024

// memoryReturner is serve's policy for --return-memory-after: it hands the
// memory that a burst of connections leaves behind back to the operating
// system. Once at least minChurn connections have opened or closed since
// the last return, and none has for after, it runs debug.FreeOSMemory: a
// full collection (which also frees the handshakes' garbage and shrinks
// goroutine stacks) followed by returning every free page. It affects the
// whole process, which is why it lives here and not in package signal; it
// costs one collection per burst (tens of milliseconds of CPU with 20,000
// connections) and never runs while connections keep arriving. Without it
// the Go runtime keeps up to the live heap again in garbage and returns
// free pages only slowly (BENCHMARKS.md, M1 against M2).
//
// The signalling server reports each open and close through
// signal.Config.ConnChurn = churn. run is its goroutine; serve owns it and
// stops it by cancelling run's context.
type memoryReturner struct {
	after    time.Duration
	minChurn int
	free     func() // debug.FreeOSMemory; tests observe it
	log      *slog.Logger

	mu    sync.Mutex
	count int         // opens and closes since the last return
	quiet *time.Timer // fires after the last open or close of a burst
}

func newMemoryReturner(after time.Duration, log *slog.Logger) *memoryReturner {
	m := &memoryReturner{after: after, minChurn: returnMemoryChurn, free: debug.FreeOSMemory, log: log}
	m.quiet = time.NewTimer(time.Hour)
	m.quiet.Stop()
	return m
}

// churn counts a connection opened or closed and, once the burst is big
// enough, restarts the quiet period. It never blocks.
func (m *memoryReturner) churn() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.count++
	if m.count >= m.minChurn {
		m.quiet.Reset(m.after)
	}
}

// run returns memory each time a burst is followed by a quiet period,
// until ctx ends.
func (m *memoryReturner) run(ctx context.Context) {
	defer m.quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.quiet.C:
		}
		m.mu.Lock()
		churn := m.count
		m.count = 0
		m.mu.Unlock()
		if churn < m.minChurn {
			continue
		}
		start := time.Now()
		m.free()
		m.log.Debug("returned memory to the OS", "churn", churn, "took", time.Since(start))
	}
}

// startMemoryReturn starts a memoryReturner for serve; stop ends its
// goroutine and waits for it.
func startMemoryReturn(after time.Duration, log *slog.Logger) (churn func(), stop func()) {
	m := newMemoryReturner(after, log)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { m.run(ctx) })
	return m.churn, func() { cancel(); wg.Wait() }
}
