package capture

import (
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
)

// findCamera returns the camera driver cfg asks for, or an error wrapping
// ErrNoCamera.
func findCamera(cfg Config) (driver.Driver, error) {
	d, err := pickDriver(cameraDrivers(), cfg.Camera)
	if err != nil {
		return nil, noCamera(cfg, err)
	}
	return d, nil
}

func noCamera(cfg Config, cause error) error {
	which := ""
	if cfg.Camera != "" {
		which = fmt.Sprintf(" (--camera %q: %v)", cfg.Camera, cause)
	}
	return fmt.Errorf("%w%s: use --video test, or list devices with `videochat devices`", ErrNoCamera, which)
}

// cameraSource reads frames from a v4l2 camera through mediadevices.
type cameraSource struct {
	d   driver.Driver
	r   video.Reader
	img *image.YCbCr // own copy: the driver's buffers are pooled
}

// openCamera opens d and starts streaming in the mode closest to w×h@fps.
func openCamera(d driver.Driver, w, h, fps int) (*cameraSource, error) {
	rec, ok := d.(driver.VideoRecorder)
	if !ok {
		return nil, errors.New("camera: driver cannot record video")
	}
	if err := d.Open(); err != nil {
		return nil, fmt.Errorf("camera %s: %w", d.Info().Label, err)
	}
	p, ok := bestCameraProp(d.Properties(), w, h, fps)
	if !ok {
		d.Close()
		return nil, fmt.Errorf("camera %s: no supported mode", d.Info().Label)
	}
	r, err := rec.VideoRecord(p)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("camera %s: start %dx%d %s: %w", d.Info().Label, p.Width, p.Height, p.FrameFormat, err)
	}
	return &cameraSource{d: d, r: video.ToI420(r)}, nil
}

// bestCameraProp prefers the requested size, then raw formats over MJPEG
// (cheaper to convert), then the frame rate closest to fps.
func bestCameraProp(props []prop.Media, w, h, fps int) (prop.Media, bool) {
	best, bestScore := prop.Media{}, -1.0
	for _, p := range props {
		score := float64(abs(p.Width-w) + abs(p.Height-h))
		if p.FrameFormat == frame.FormatMJPEG {
			score += 50
		}
		if p.FrameRate > 0 {
			score += float64(abs(int(p.FrameRate) - fps))
		}
		if bestScore < 0 || score < bestScore {
			best, bestScore = p, score
		}
	}
	return best, bestScore >= 0
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func (c *cameraSource) Interval() time.Duration { return 0 }

// Read blocks until the camera delivers the next frame.
func (c *cameraSource) Read() (*image.YCbCr, error) {
	img, release, err := c.r.Read()
	if err != nil {
		return nil, fmt.Errorf("camera: %w", err)
	}
	defer release()
	yuv, ok := img.(*image.YCbCr)
	if !ok || yuv.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		return nil, fmt.Errorf("camera: unexpected frame type %T", img)
	}
	w, h := yuv.Rect.Dx()&^1, yuv.Rect.Dy()&^1
	if c.img == nil || c.img.Rect.Dx() != w || c.img.Rect.Dy() != h {
		c.img = newI420(w, h)
	}
	copyPlane(c.img.Y, c.img.YStride, yuv.Y, yuv.YStride, w, h)
	copyPlane(c.img.Cb, c.img.CStride, yuv.Cb, yuv.CStride, w/2, h/2)
	copyPlane(c.img.Cr, c.img.CStride, yuv.Cr, yuv.CStride, w/2, h/2)
	return c.img, nil
}

func (c *cameraSource) Close() error { return c.d.Close() }

func copyPlane(dst []byte, dstStride int, src []byte, srcStride, w, h int) {
	for y := 0; y < h; y++ {
		copy(dst[y*dstStride:y*dstStride+w], src[y*srcStride:])
	}
}
