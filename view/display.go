package view

// Display delay, for lip sync. A frame that Tiles hands out is on the
// screen only after the renderer has drawn and presented it, and a frame
// that becomes due waits for the renderer's next Tiles call. The renderer
// measures that and reports it (SetDisplayDelay); Tiles then releases each
// frame that much before the audio clock reaches its sender time, so that
// it appears when its sound is heard, as the audio side adds its device
// latency (playback's Mixer.SetLatency).
//
// Invariant: the delay used is within [0, maxDisplayDelay]; 0 until a
// renderer reports one.

import "time"

// maxDisplayDelay bounds what a renderer may claim: a renderer this slow
// is lagging, and releasing frames earlier would not help it.
const maxDisplayDelay = 200 * time.Millisecond

// SetDisplayDelay tells the view how long a frame takes from becoming due
// to being on the screen: the renderer's wait for its next Tiles call plus
// drawing and presenting. Safe for concurrent use.
func (v *View) SetDisplayDelay(d time.Duration) {
	v.display.Store(int64(min(max(d, 0), maxDisplayDelay)))
}

// DisplayDelay is what SetDisplayDelay set.
func (v *View) DisplayDelay() time.Duration { return time.Duration(v.display.Load()) }

// DelayMeter averages a renderer's display delay: Frame gives the time
// from one Tiles call to the end of presenting what it returned; Delay is
// a moving average of that plus half the renderer's redraw interval (the
// average wait of a due frame for the next Tiles call).
type DelayMeter struct {
	Interval time.Duration // the renderer's redraw interval
	avg      time.Duration
}

// Frame adds one measurement and returns the display delay now.
func (m *DelayMeter) Frame(draw time.Duration) time.Duration {
	if m.avg == 0 {
		m.avg = draw
	} else {
		m.avg += (draw - m.avg) / 8
	}
	return m.avg + m.Interval/2
}
