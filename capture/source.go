package capture

import (
	"image"
	"time"
)

// videoSource produces raw I420 frames for a live video pipeline. It is
// used by one goroutine.
type videoSource interface {
	// Read returns the next frame. The frame is valid until the next call.
	Read() (*image.YCbCr, error)
	// Interval is the time between frames when the pipeline paces the
	// source with its ticker, or 0 when Read itself blocks until the next
	// frame (devices).
	Interval() time.Duration
	Close() error
}

// videoOpener opens a fresh instance of a source; a pipeline opens its
// source when it starts and closes it when it stops.
type videoOpener func() (videoSource, error)

func newI420(w, h int) *image.YCbCr {
	return image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
}
