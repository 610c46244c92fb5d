package capture

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// paceRun releases frames of a pacer (20 ms, maxLate) for total of fake
// time; work returns how long the pipeline takes for frame i. It returns
// the frames released and skipped and fails if a frame is released early.
func paceRun(t *testing.T, maxLate, total time.Duration, work func(i int) time.Duration) (released, skipped int) {
	t.Helper()
	p := newFramePacer(audioFrame, maxLate)
	defer p.stop()
	stop := make(chan struct{})
	start := time.Now()
	for time.Since(start) < total {
		s, err := p.wait(stop)
		if err != nil {
			t.Fatal(err)
		}
		skipped += s
		idx := released + skipped
		if due := start.Add(time.Duration(idx) * audioFrame); time.Now().Before(due) {
			t.Fatalf("frame %d released at %v, due at %v", idx, time.Since(start), due.Sub(start))
		}
		released++
		time.Sleep(work(released))
	}
	return released, skipped
}

// TestFramePacerKeepsClockRate: a pipeline that is always slower than real
// time (30 ms per 20 ms frame) still accounts for every 20 ms of the clock
// (released + skipped frames, less the at most maxLate the pipeline is
// behind), where a time.Ticker would give two thirds.
func TestFramePacerKeepsClockRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		released, skipped := paceRun(t, maxAudioLate, 2*time.Second, func(int) time.Duration { return 30 * time.Millisecond })
		owed := int(maxAudioLate/audioFrame) + 1
		if n := released + skipped; n < 100-owed || n > 101 {
			t.Errorf("%d released + %d skipped frames in 2 s, want 100 (less at most %d owed)", released, skipped, owed)
		}
		if skipped == 0 {
			t.Error("a pipeline that never keeps up skipped no frame")
		}
	})
}

// TestFramePacerCatchesUp: a stall shorter than maxLate is caught up with
// no frame skipped; a longer one skips to the newest due frame.
func TestFramePacerCatchesUp(t *testing.T) {
	for _, tc := range []struct {
		stall       time.Duration
		wantSkipped int
	}{
		{100 * time.Millisecond, 0},
		{500 * time.Millisecond, 24}, // frames 2..25 are more than 200 ms late at 520 ms
	} {
		synctest.Test(t, func(t *testing.T) {
			released, skipped := paceRun(t, maxAudioLate, time.Second, func(i int) time.Duration {
				if i == 1 {
					return tc.stall
				}
				return time.Millisecond
			})
			if skipped != tc.wantSkipped || released+skipped < 50 || released+skipped > 51 {
				t.Errorf("stall %v: %d released, %d skipped in 1 s; want %d skipped, 50 in all", tc.stall, released, skipped, tc.wantSkipped)
			}
		})
	}
}

// TestFramePacerStop: wait returns errStopped once stop is closed, also
// while waiting for a frame.
func TestFramePacerStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newFramePacer(time.Hour, 0)
		defer p.stop()
		if _, err := p.wait(make(chan struct{})); err != nil { // frame 0 is due at once
			t.Fatal(err)
		}
		stop := make(chan struct{})
		go func() { time.Sleep(time.Minute); close(stop) }()
		if _, err := p.wait(stop); !errors.Is(err, errStopped) {
			t.Fatalf("wait after stop = %v, want errStopped", err)
		}
	})
}
