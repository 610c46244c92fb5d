// Package fakecam is a camera driver for tests, registered in
// mediadevices' driver manager beside (and like) the v4l2 one, for machines
// without /dev/video*. It is linked only into test binaries: the capture
// package's tests import it, and `go build -tags fakecam ./cmd/videochat`
// registers the cameras named by $VIDEOCHAT_FAKECAM (see env.go). The
// product binary never imports it (checked by TestProductHasNoFakeCamera).
//
// Invariants, as for a real camera:
//   - the modes are listed only once the driver is open;
//   - frames are raw bytes in the recorded mode's format (MJPEG, YUYV,
//     NV12), decoded by mediadevices' own frame decoders;
//   - frames are paced at the mode's rate;
//   - unplugged (Unplug, or the unplug file exists): Open and reads fail
//     until it is plugged back;
//   - busy (Busy, or the busy file exists: another program streams from
//     it): Open works but starting a stream fails with EBUSY, as V4L2's
//     VIDIOC_S_FMT does; a stream already running goes on.
//
// Every frame has a bright left half (luma 200) and a dark right half
// (luma 50), neutral chroma: a receiver can tell it from a black card.
package fakecam

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
)

// Luma of the frames' halves.
const (
	LumaLeft  = 200
	LumaRight = 50
)

// ErrUnplugged is what Open and reads return while the camera is unplugged.
var ErrUnplugged = errors.New("fake camera: no such device")

// ErrBusy is what starting a stream returns while the camera is busy: it
// wraps syscall.EBUSY, as the V4L2 driver's error does.
var ErrBusy = fmt.Errorf("fake camera: set format: %w", syscall.EBUSY)

// Camera is one fake camera.
type Camera struct {
	modes      []prop.Media
	unplugFile string // unplugged while this file exists ("" = never)
	busyFile   string // busy while this file exists ("" = never)
	unplug     atomic.Bool
	busy       atomic.Bool
	opens      atomic.Int32
	streams    atomic.Int32
	mu         sync.Mutex
	recorded   prop.Media // the mode VideoRecord was last asked for
}

// Register adds a camera with label id and the given modes to mediadevices'
// driver manager. While unplugFile (if not "") exists, the camera is
// unplugged. remove takes it out of the manager again.
func Register(id, unplugFile string, modes ...prop.Media) (c *Camera, remove func(), err error) {
	return RegisterFiles(id, Files{Unplug: unplugFile}, modes...)
}

// Files are the files whose existence switches a camera's state.
type Files struct {
	Unplug string // unplugged while it exists ("" = never)
	Busy   string // busy while it exists ("" = never)
}

// RegisterFiles is Register with both state files.
func RegisterFiles(id string, f Files, modes ...prop.Media) (c *Camera, remove func(), err error) {
	c = &Camera{modes: modes, unplugFile: f.Unplug, busyFile: f.Busy}
	m := driver.GetManager()
	if err := m.Register(c, driver.Info{Label: id, Name: "Fake " + id, DeviceType: driver.Camera}); err != nil {
		return nil, nil, err
	}
	remove = func() {}
	for _, d := range m.Query(driver.FilterDeviceType(driver.Camera)) {
		if d.Info().Label == id {
			remove = func() { _ = d.Close(); m.Delete(d.ID()) }
		}
	}
	return c, remove, nil
}

// Unplug makes Open and reads fail (true) or work again (false).
func (c *Camera) Unplug(v bool) { c.unplug.Store(v) }

// Opens counts the successful Opens.
func (c *Camera) Opens() int { return int(c.opens.Load()) }

// Streams counts the streams started (successful VideoRecords).
func (c *Camera) Streams() int { return int(c.streams.Load()) }

// Recorded is the mode last passed to VideoRecord.
func (c *Camera) Recorded() prop.Media {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recorded
}

// Busy makes starting a stream fail with EBUSY (true) or work (false).
func (c *Camera) Busy(v bool) { c.busy.Store(v) }

func (c *Camera) isBusy() bool {
	if c.busy.Load() {
		return true
	}
	if c.busyFile == "" {
		return false
	}
	_, err := os.Stat(c.busyFile)
	return err == nil
}

func (c *Camera) unplugged() bool {
	if c.unplug.Load() {
		return true
	}
	if c.unplugFile == "" {
		return false
	}
	_, err := os.Stat(c.unplugFile)
	return err == nil
}

func (c *Camera) Open() error {
	if c.unplugged() {
		return ErrUnplugged
	}
	c.opens.Add(1)
	return nil
}

func (c *Camera) Close() error { return nil }

func (c *Camera) Properties() []prop.Media { return c.modes }

func (c *Camera) VideoRecord(p prop.Media) (video.Reader, error) {
	if c.isBusy() {
		return nil, ErrBusy
	}
	dec, err := frame.NewDecoder(p.FrameFormat)
	if err != nil {
		return nil, err
	}
	raw, err := Frame(p)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.recorded = p
	c.mu.Unlock()
	c.streams.Add(1)
	interval := time.Second / time.Duration(max(1, int(p.FrameRate)))
	next := time.Now()
	return video.ReaderFunc(func() (image.Image, func(), error) {
		next = next.Add(interval)
		time.Sleep(time.Until(next)) // a camera delivers at its rate
		if c.unplugged() {
			return nil, func() {}, ErrUnplugged
		}
		return dec.Decode(raw, p.Width, p.Height)
	}), nil
}

// Frame is one frame in p's format: bright left half, dark right half.
func Frame(p prop.Media) ([]byte, error) {
	w, h := p.Width, p.Height
	luma := func(x int) byte {
		if x < w/2 {
			return LumaLeft
		}
		return LumaRight
	}
	switch p.FrameFormat {
	case frame.FormatYUYV:
		b := make([]byte, 0, w*h*2)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x += 2 {
				b = append(b, luma(x), 128, luma(x+1), 128)
			}
		}
		return b, nil
	case frame.FormatNV12:
		b := make([]byte, 0, w*h*3/2)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				b = append(b, luma(x))
			}
		}
		for i := 0; i < w*h/2; i++ {
			b = append(b, 128)
		}
		return b, nil
	case frame.FormatMJPEG:
		img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				img.Y[y*img.YStride+x] = luma(x)
			}
		}
		for i := range img.Cb {
			img.Cb[i], img.Cr[i] = 128, 128
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	return nil, errors.New("fake camera: no frames in format " + string(p.FrameFormat))
}

// Mode is one camera mode.
func Mode(w, h int, fps float32, f frame.Format) prop.Media {
	return prop.Media{Video: prop.Video{Width: w, Height: h, FrameRate: fps, FrameFormat: f}}
}

// Realistic mode lists, by the names $VIDEOCHAT_FAKECAM accepts.
var models = map[string][]prop.Media{
	// a camera that delivers MJPEG only (many USB webcams above 640×480)
	"mjpeg": {Mode(1920, 1080, 30, frame.FormatMJPEG), Mode(1280, 720, 30, frame.FormatMJPEG), Mode(640, 480, 30, frame.FormatMJPEG), Mode(320, 240, 30, frame.FormatMJPEG)},
	// YUYV at several sizes, 720p only at 10 fps raw (30 in MJPEG)
	"yuyv": {Mode(640, 480, 30, frame.FormatYUYV), Mode(640, 480, 15, frame.FormatYUYV), Mode(1280, 720, 10, frame.FormatYUYV), Mode(320, 240, 30, frame.FormatYUYV), Mode(160, 120, 30, frame.FormatYUYV),
		Mode(1280, 720, 30, frame.FormatMJPEG)},
	"nv12":  {Mode(1280, 720, 30, frame.FormatNV12), Mode(640, 360, 30, frame.FormatNV12)},
	"hd720": {Mode(1280, 720, 30, frame.FormatYUYV)},
}

// Modes returns the mode list of a model: "mjpeg", "yuyv", "nv12" or
// "hd720" (a camera whose only mode is 1280×720@30).
func Modes(model string) ([]prop.Media, bool) {
	m, ok := models[model]
	return append([]prop.Media(nil), m...), ok
}
