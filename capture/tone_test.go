package capture

import (
	"math"
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/wave"
)

// TestToneBeepsOnTheSecond: the test tone's beeps start when a wall-clock
// second begins (the chunk read at R holds [R − 20 ms, R]), so they mark
// capture times for lip-sync measurements; Skip keeps the phase.
func TestToneBeepsOnTheSecond(t *testing.T) {
	peak := func(a wave.Audio) float64 {
		var p float64
		for _, v := range a.(*wave.Int16Interleaved).Data {
			p = max(p, math.Abs(float64(v))/math.MaxInt16)
		}
		return p
	}
	// The first chunk is read 20 ms after a second began: it is the
	// beep's first 20 ms; 15 chunks later (300 ms) the beep is over.
	s := newToneSource()
	s.now = func() time.Time { return time.Unix(1_700_000_000, 20_000_000) }
	a, _, _ := s.Read()
	if p := peak(a); p < 0.25 {
		t.Errorf("the chunk at the start of a second peaks at %.2f, want the beep (0.3)", p)
	}
	s.Skip(14)
	if a, _, _ = s.Read(); peak(a) > 0.1 {
		t.Errorf("300 ms after the second began the tone is still loud (%.2f)", peak(a))
	}
	// Read first just before a second begins: quiet, then the beep in the
	// next chunk exactly.
	s = newToneSource()
	s.now = func() time.Time { return time.Unix(1_700_000_000, 999_990_000) }
	a, _, _ = s.Read() // [.97999, .99999]
	if peak(a) > 0.1 {
		t.Errorf("the chunk before the second is loud (%.2f)", peak(a))
	}
	a, _, _ = s.Read() // [.99999, 1.01999]: the beep's first 20 ms
	if peak(a) < 0.25 {
		t.Errorf("the chunk over the second's start peaks at %.2f, want the beep", peak(a))
	}
}
