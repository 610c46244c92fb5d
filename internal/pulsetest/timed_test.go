package pulsetest_test

import (
	"testing"
	"time"

	"github.com/videochat/videochat/internal/pulsetest"
	"github.com/videochat/videochat/internal/tonetest"
)

// TestRecordTimed: a timed recording of a sink playing a tone holds the
// tone, runs at the sink's rate, and times its samples on the wall clock:
// the newest sample was played no later than now and not long before.
func TestRecordTimed(t *testing.T) {
	s := pulsetest.Start(t, pulsetest.Sink{Name: "spk", Channels: 1})
	s.Play("spk", 48000, 1, "30", "sine", "440")
	r := s.RecordTimed("spk", 48000)
	deadline := time.Now().Add(20 * time.Second)
	for r.Samples() < 48000 {
		if time.Now().After(deadline) {
			t.Fatalf("%d samples recorded in 20 s", r.Samples())
		}
		time.Sleep(50 * time.Millisecond) // polling a recording that fills in real time
	}
	pcm, clock := r.Snapshot()
	now := time.Now()
	last := clock.At(len(pcm) - 1)
	if last.IsZero() || last.After(now) || now.Sub(last) > time.Second {
		t.Errorf("the newest sample timed %v before now", now.Sub(last))
	}
	first := clock.At(len(pcm) - 48000)
	if d := last.Sub(first); d < 900*time.Millisecond || d > 1100*time.Millisecond {
		t.Errorf("48000 samples span %v on the wall clock, want ≈ 1 s", d)
	}
	if sh := tonetest.Share(pcm[len(pcm)-4800:], 440, 48000); sh < 0.5 {
		t.Errorf("440 Hz holds %.2f of the recording's power", sh)
	}
	if l := r.Latency(); l > 100*time.Millisecond {
		t.Errorf("record latency %v", l)
	}
}
