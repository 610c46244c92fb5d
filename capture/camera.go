package capture

// The camera and screen path, top to bottom:
//
//	driver (mediadevices v4l2, our X11 xscreen, or a test's fake) opened first, then
//	its mode chosen from what it reports → frames decoded by the driver
//	(MJPEG, YUYV, NV12, RGBA …) → I420 → scaled to fit --width/--height
//	→ the live video pipeline.
//
// A device whose reads start failing (unplugged) does not end the call:
// lostVideo sends black frames with the peer's name at the nominal rate,
// logs the event and reopens the device every second until it delivers
// again.

import (
	"errors"
	"fmt"
	"image"
	"log/slog"
	"math"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"

	"github.com/videochat/videochat/capture/i420"
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
		which = fmt.Sprintf(" (--camera %q)", cfg.Camera)
	}
	return fmt.Errorf("%w%s: %v: use --video test, or list devices with `videochat devices`", ErrNoCamera, which, cause)
}

// trialCamera starts and stops the camera once, so that a camera another
// program streams from (EBUSY) or that refuses to start is a clear error
// at Open, not a call without video.
func trialCamera(cfg Config, open func() (*deviceVideo, error)) error {
	v, err := open()
	if err == nil {
		return v.Close()
	}
	which := "the camera"
	if cfg.Camera != "" {
		which = fmt.Sprintf("camera %q", cfg.Camera)
	}
	if isBusy(err) {
		return fmt.Errorf("%w: %s is in use by another program (%v): close that program, pick another with --camera (see `videochat devices`), or use --video test or --video none",
			ErrDeviceBusy, which, err)
	}
	return fmt.Errorf("%s does not start (%v): pick another with --camera (see `videochat devices`), or use --video test or --video none", which, err)
}

// isBusy reports a device in use elsewhere: EBUSY, which V4L2 drivers
// return when another program streams (some wrappers keep only its text).
func isBusy(err error) bool {
	return errors.Is(err, syscall.EBUSY) || strings.Contains(err.Error(), syscall.EBUSY.Error())
}

// findScreen returns the X11 screen n, or an error wrapping ErrNoScreen.
func findScreen(n int) (driver.Driver, error) {
	ds := screenDrivers()
	if n < 0 || n >= len(ds) {
		have := "none (is DISPLAY set?)"
		if len(ds) > 0 {
			have = fmt.Sprintf("screen:0 … screen:%d", len(ds)-1)
		}
		return nil, fmt.Errorf("%w: screen:%d: screens: %s: list devices with `videochat devices`", ErrNoScreen, n, have)
	}
	return ds[n], nil
}

// videoChooser picks the mode to record from what an open driver offers.
type videoChooser func(props []prop.Media) (prop.Media, bool)

// deviceVideo reads frames from an opened mediadevices video driver.
type deviceVideo struct {
	d     driver.Driver
	r     video.Reader
	w, h  int          // the box frames are scaled to fit
	img   *image.YCbCr // own copy: the driver's buffers are pooled
	label string
	mode  prop.Media // the mode recorded
}

// openDeviceVideo opens d, then chooses its mode from the modes it reports
// (drivers list them only once open) and starts streaming.
func openDeviceVideo(d driver.Driver, choose videoChooser, w, h int) (*deviceVideo, error) {
	rec, ok := d.(driver.VideoRecorder)
	label := driverLabel(d)
	if !ok {
		return nil, fmt.Errorf("%s: driver cannot record video", label)
	}
	if err := safely(d.Open); err != nil {
		return nil, fmt.Errorf("%s: open: %w", label, err)
	}
	p, ok := choose(d.Properties())
	if !ok {
		d.Close()
		return nil, fmt.Errorf("%s: no supported mode", label)
	}
	var r video.Reader
	err := safely(func() (err error) { r, err = rec.VideoRecord(p); return err })
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("%s: start %dx%d %s: %w", label, p.Width, p.Height, p.FrameFormat, err)
	}
	return &deviceVideo{d: d, r: video.ToI420(r), w: w, h: h, label: label, mode: p}, nil
}

// bestCameraProp picks the mode closest to w×h@fps: the size first
// (relative distance, so that 1280×720 for 1280×720 beats 640×480), then
// raw formats over MJPEG (cheaper to convert), then the frame rate. Modes
// in formats no decoder exists for are skipped.
func bestCameraProp(w, h, fps int) videoChooser {
	return func(props []prop.Media) (prop.Media, bool) {
		best, bestScore := prop.Media{}, math.Inf(1)
		for _, p := range props {
			if _, err := frame.NewDecoder(p.FrameFormat); err != nil || p.Width <= 0 || p.Height <= 0 {
				continue
			}
			score := math.Abs(math.Log(float64(p.Width)/float64(w))) + math.Abs(math.Log(float64(p.Height)/float64(h)))
			score *= 100
			if p.FrameFormat == frame.FormatMJPEG {
				score += 5
			}
			if p.FrameRate > 0 {
				score += math.Abs(float64(p.FrameRate)-float64(fps)) / 2
			}
			if score < bestScore {
				best, bestScore = p, score
			}
		}
		if math.IsInf(bestScore, 1) {
			return prop.Media{}, false
		}
		if best.FrameRate == 0 {
			best.FrameRate = float32(fps)
		}
		return best, true
	}
}

// screenProp takes the screen's one mode at fps frames per second.
func screenProp(fps int) videoChooser {
	return func(props []prop.Media) (prop.Media, bool) {
		if len(props) == 0 {
			return prop.Media{}, false
		}
		p := props[0]
		p.FrameRate = float32(fps)
		return p, true
	}
}

func (c *deviceVideo) Interval() time.Duration { return 0 }

// logOpen logs the device and the mode chosen, on each (re)open.
func (c *deviceVideo) logOpen(log *slog.Logger, kind string) {
	m := c.mode
	log.Info(kind+" open", "device", c.label, "mode", fmt.Sprintf("%dx%d@%g %s", m.Width, m.Height, m.FrameRate, m.FrameFormat),
		"sent", fmt.Sprintf("fit %dx%d", c.w, c.h))
}

// Read blocks until the device delivers the next frame.
func (c *deviceVideo) Read() (img *image.YCbCr, err error) {
	var src image.Image
	var release func()
	err = safely(func() (err error) { src, release, err = c.r.Read(); return err })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.label, err)
	}
	defer release()
	yuv, ok := src.(*image.YCbCr)
	if !ok || yuv.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		return nil, fmt.Errorf("%s: unexpected frame type %T", c.label, src)
	}
	w, h := i420.FitSize(yuv.Rect.Dx(), yuv.Rect.Dy(), c.w, c.h)
	if c.img == nil || c.img.Rect.Dx() != w || c.img.Rect.Dy() != h {
		c.img = newI420(w, h)
	}
	i420.Scale(c.img, yuv)
	return c.img, nil
}

func (c *deviceVideo) Close() error { return safely(c.d.Close) }

// safely runs a driver call, turning a panic into an error.
func safely(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("driver failure: %v", r)
		}
	}()
	return f()
}

// lostVideo keeps a device's track alive across failures: while the
// device fails it sends black frames showing name, and reopens it.
type lostVideo struct {
	open   videoOpener
	name   string
	w, h   int
	fps    int
	log    *slog.Logger
	reopen time.Duration

	src  videoSource // nil while lost
	next time.Time   // when the next placeholder frame is due
	last time.Time   // last reopen attempt
	card *image.YCbCr
	mu   sync.Mutex // guards src against Close from another goroutine
}

// newLostVideo opens the device; if it cannot be opened now (busy, X
// server gone since Open checked it) the source starts lost: it sends the
// name card and retries, and the call has video once the device is back.
func newLostVideo(open videoOpener, name string, w, h, fps int, log *slog.Logger) (*lostVideo, error) {
	l := &lostVideo{open: open, name: name, w: w, h: h, fps: fps, log: log, reopen: time.Second}
	src, err := open()
	if err != nil {
		log.Warn("video device unavailable: sending black frames, retrying every second", "err", err)
		l.next, l.last = time.Now(), time.Now()
		return l, nil
	}
	l.src = src
	return l, nil
}

func (l *lostVideo) Interval() time.Duration { return 0 }

func (l *lostVideo) Read() (*image.YCbCr, error) {
	if l.src != nil {
		img, err := l.src.Read()
		if err == nil {
			return img, nil
		}
		if errors.Is(err, errStopped) {
			return nil, err
		}
		l.log.Warn("video device lost: sending black frames, retrying every second", "err", err)
		l.mu.Lock()
		_ = l.src.Close()
		l.src = nil
		l.mu.Unlock()
		l.next, l.last = time.Now(), time.Now()
	}
	if time.Since(l.last) >= l.reopen {
		l.last = time.Now()
		if src, err := l.open(); err == nil {
			l.log.Warn("video device is back")
			l.mu.Lock()
			l.src = src
			l.mu.Unlock()
			return l.Read()
		} else {
			l.log.Debug("video device reopen failed", "err", err)
		}
	}
	if d := time.Until(l.next); d > 0 {
		time.Sleep(d) // pacing placeholder frames at the nominal rate
	}
	l.next = l.next.Add(time.Second / time.Duration(l.fps))
	if l.card == nil {
		l.card = nameCard(l.w, l.h, l.name)
	}
	return l.card, nil
}

func (l *lostVideo) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.src != nil {
		return l.src.Close()
	}
	return nil
}
