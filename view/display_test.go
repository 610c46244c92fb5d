package view_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/videochat/videochat/view"
	"github.com/videochat/videochat/view/internal/vtest"
)

// TestLipSyncDisplayDelay: with a display delay reported by the renderer,
// a frame is released that much before the audio clock reaches its sender
// time, and not earlier; the delay is bounded.
func TestLipSyncDisplayDelay(t *testing.T) {
	ac := &fakeClock{}
	now := time.Unix(5000, 0)
	var mu sync.Mutex
	v := view.New(view.Config{AudioClock: ac, MaxHold: time.Hour, StaleAfter: time.Hour,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	v.SetDisplayDelay(25 * time.Millisecond)
	tr := openTrack(t, v, "p1", "alice", codecVP8)
	defer tr.sink.Close()
	enc := vtest.NewEncoder(t, "video/VP8", 160, 120)
	pk := vtest.NewPacketizer("video/VP8", ptVP8)
	sender0 := time.Unix(1_700_000_000, 0)
	tr.sink.SenderReport(sender0, pk.TS)
	ac.set(sender0.Add(-time.Second))
	tr.write(pk.Packets(enc.Encode(t, vtest.Solid(160, 120, 81, 90, 240), true)))
	waitFor(t, "decoded", func() error {
		if n := v.Stats().Total.FramesDecoded; n != 1 {
			return fmt.Errorf("%d", n)
		}
		return nil
	})
	ac.set(sender0.Add(-26 * time.Millisecond))
	if tl, _ := tileOf(v, "p1"); tl.Frame != nil {
		t.Fatal("released more than the display delay early")
	}
	ac.set(sender0.Add(-25 * time.Millisecond))
	if tl, _ := tileOf(v, "p1"); tl.Frame == nil {
		t.Fatal("not released the display delay before its time")
	}
	v.SetDisplayDelay(time.Hour)
	if d := v.DisplayDelay(); d > time.Second {
		t.Errorf("display delay %v accepted", d)
	}
	v.SetDisplayDelay(-time.Second)
	if d := v.DisplayDelay(); d != 0 {
		t.Errorf("display delay %v accepted", d)
	}
}

// TestDelayMeter: the meter follows the drawing time and adds half the
// redraw interval.
func TestDelayMeter(t *testing.T) {
	m := view.DelayMeter{Interval: 20 * time.Millisecond}
	if d := m.Frame(8 * time.Millisecond); d != 18*time.Millisecond {
		t.Errorf("first frame: %v, want 18ms", d)
	}
	var d time.Duration
	for range 100 {
		d = m.Frame(16 * time.Millisecond)
	}
	if d < 25*time.Millisecond || d > 26*time.Millisecond {
		t.Errorf("after a steady 16 ms: %v, want ≈ 26ms", d)
	}
}
