package wsconn

import (
	"fmt"
	"testing"
)

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

// TestHandOff: a reader hands over when its stack has moved and nothing
// is buffered, at most once per handOffEvery, and never on the plain path.
func TestHandOff(t *testing.T) {
	c := tricksPair(t, false).server
	plain := tricksPair(t, true).server
	got := make(chan []bool)
	go func() {
		var m StackMark
		m.Set()
		before := c.HandOff(&m)
		growStack(64)
		got <- []bool{before, plain.HandOff(&m), c.HandOff(&m), c.HandOff(&m)}
	}()
	if g, want := <-got, []bool{false, false, true, false}; fmt.Sprint(g) != fmt.Sprint(want) {
		t.Fatalf("HandOff before growing, plain, first, second = %v, want %v", g, want)
	}
}
