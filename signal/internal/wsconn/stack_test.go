package wsconn

import "testing"

// TestStackMark: the mark sees its goroutine's stack move when it grows.
func TestStackMark(t *testing.T) {
	moved := make(chan [2]bool)
	go func() {
		var m StackMark
		m.Set()
		before := m.Moved()
		growStack(64) // 64 frames of 1 KiB: past any starting stack size
		moved <- [2]bool{before, m.Moved()}
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
