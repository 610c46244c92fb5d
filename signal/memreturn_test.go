package signal

import (
	"fmt"
	"testing"
	"time"

	"github.com/videochat/videochat/signal/proto"
)

// TestReturnMemoryAfterBurst: memory is returned once a burst of at least
// the minimum churn has been followed by a quiet period, and not for a
// smaller burst.
func TestReturnMemoryAfterBurst(t *testing.T) {
	const quiet, minChurn = 50 * time.Millisecond, 6
	ts := newTestServer(t, Config{ReturnMemoryAfter: quiet})
	returned := make(chan int, 8)
	ts.mu.Lock()
	ts.memReturn.minChurn = minChurn
	ts.memReturn.free = func() { returned <- 1 }
	ts.mu.Unlock()

	for i := range minChurn / 2 {
		ts.join(t, "r", fmt.Sprint("P", i))
	}
	// A burst below the minimum: nothing happens in many quiet periods.
	select {
	case <-returned:
		t.Fatal("memory returned after a small burst")
	case <-time.After(10 * quiet):
	}
	// More joins and a close take the count past the minimum: memory is
	// returned once it has been quiet.
	var last *client
	for i := range minChurn - 1 {
		last, _ = ts.join(t, "r2", fmt.Sprint("Q", i%4))
		if i == 3 {
			last.send(proto.Message{Type: proto.TypeLeave})
			last.expectClose(1000)
		}
	}
	select {
	case <-returned:
	case <-time.After(ioTimeout):
		t.Fatal("memory not returned after a burst and a quiet period")
	}
	select {
	case <-returned:
		t.Fatal("memory returned twice for one burst")
	case <-time.After(10 * quiet):
	}
}

// TestStackMark: the mark sees its goroutine's stack move when it grows.
func TestStackMark(t *testing.T) {
	moved := make(chan [2]bool)
	go func() {
		var m stackMark
		m.set()
		before := m.moved()
		growStack(64) // 64 frames of 1 KiB: past any starting stack size
		moved <- [2]bool{before, m.moved()}
	}()
	if got := <-moved; got != [2]bool{false, true} {
		t.Fatalf("moved before, after growing = %v, want [false true]", got)
	}
}

// growStack recurses n times with a 1 KiB frame.
//
//go:noinline
func growStack(n int) byte {
	var pad [1024]byte
	pad[n%len(pad)] = byte(n)
	if n == 0 {
		return pad[0]
	}
	return growStack(n-1) + pad[n%len(pad)]
}
