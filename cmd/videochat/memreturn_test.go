package main

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// TestReturnMemoryAfterBurst: memory is returned once a burst of at least
// the minimum churn has been followed by a quiet period, once per burst,
// and not for a smaller burst.
func TestReturnMemoryAfterBurst(t *testing.T) {
	const quiet, minChurn = 50 * time.Millisecond, 6
	m := newMemoryReturner(quiet, slog.New(slog.DiscardHandler))
	returned := make(chan struct{}, 8)
	m.minChurn, m.free = minChurn, func() { returned <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { m.run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	for range minChurn / 2 {
		m.churn()
	}
	// A burst below the minimum: nothing happens in many quiet periods.
	select {
	case <-returned:
		t.Fatal("memory returned after a small burst")
	case <-time.After(10 * quiet):
	}
	// More opens and closes take the count past the minimum: memory is
	// returned once it has been quiet.
	for range minChurn - 1 {
		m.churn()
	}
	select {
	case <-returned:
	case <-time.After(15 * time.Second):
		t.Fatal("memory not returned after a burst and a quiet period")
	}
	select {
	case <-returned:
		t.Fatal("memory returned twice for one burst")
	case <-time.After(10 * quiet):
	}
}

// TestReturnMemoryStops: stop ends the returner's goroutine.
func TestReturnMemoryStops(t *testing.T) {
	churn, stop := startMemoryReturn(time.Hour, slog.New(slog.DiscardHandler))
	churn()
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("stop did not return")
	}
}
