package capture

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
)

// fakeCamera is a camera driver registered in mediadevices' driver manager
// like the v4l2 one: it lists its modes only once opened, delivers frames
// as raw bytes in the chosen format that mediadevices' decoders turn into
// images (as the v4l2 driver does), and can be unplugged (Open and reads
// fail) and plugged back.
type fakeCamera struct {
	modes    []prop.Media
	unplug   atomic.Bool
	opens    atomic.Int32
	mu       sync.Mutex
	open     bool
	recorded prop.Media // the mode VideoRecord was asked for
}

var errUnplugged = errors.New("fake camera: no such device")

// registerFakeCamera adds a fake camera with label id until the test ends.
func registerFakeCamera(t *testing.T, id string, modes ...prop.Media) *fakeCamera {
	t.Helper()
	c := &fakeCamera{modes: modes}
	m := driver.GetManager()
	if err := m.Register(c, driver.Info{Label: id, Name: "Fake " + id, DeviceType: driver.Camera}); err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Query(driver.FilterDeviceType(driver.Camera)) {
		if d.Info().Label == id {
			t.Cleanup(func() { _ = d.Close(); m.Delete(d.ID()) })
		}
	}
	return c
}

func (c *fakeCamera) Open() error {
	if c.unplug.Load() {
		return errUnplugged
	}
	c.opens.Add(1)
	c.mu.Lock()
	c.open = true
	c.mu.Unlock()
	return nil
}

func (c *fakeCamera) Close() error {
	c.mu.Lock()
	c.open = false
	c.mu.Unlock()
	return nil
}

func (c *fakeCamera) Properties() []prop.Media { return c.modes }

func (c *fakeCamera) VideoRecord(p prop.Media) (video.Reader, error) {
	dec, err := frame.NewDecoder(p.FrameFormat)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.recorded = p
	c.mu.Unlock()
	raw := fakeFrame(p)
	tick := time.NewTicker(time.Second / time.Duration(max(1, int(p.FrameRate))))
	return video.ReaderFunc(func() (image.Image, func(), error) {
		<-tick.C
		if c.unplug.Load() {
			tick.Stop()
			return nil, func() {}, errUnplugged
		}
		return dec.Decode(raw, p.Width, p.Height)
	}), nil
}

func (c *fakeCamera) mode() prop.Media {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recorded
}

// fakeFrame is one frame in p's format: bright (luma 200) left half, dark
// (luma 50) right half, neutral chroma.
func fakeFrame(p prop.Media) []byte {
	w, h := p.Width, p.Height
	luma := func(x int) byte {
		if x < w/2 {
			return 200
		}
		return 50
	}
	switch p.FrameFormat {
	case frame.FormatYUYV:
		b := make([]byte, 0, w*h*2)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x += 2 {
				b = append(b, luma(x), 128, luma(x+1), 128)
			}
		}
		return b
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
		return b
	case frame.FormatMJPEG:
		img := newI420(w, h)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				img.Y[y*img.YStride+x] = luma(x)
			}
		}
		for i := range img.Cb {
			img.Cb[i], img.Cr[i] = 128, 128
		}
		var buf bytes.Buffer
		_ = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
		return buf.Bytes()
	}
	panic("fakeFrame: format " + p.FrameFormat)
}

func mode(w, h int, fps float32, f frame.Format) prop.Media {
	return prop.Media{Video: prop.Video{Width: w, Height: h, FrameRate: fps, FrameFormat: f}}
}

// Realistic mode lists.
var (
	mjpegOnly = []prop.Media{mode(1920, 1080, 30, frame.FormatMJPEG), mode(1280, 720, 30, frame.FormatMJPEG), mode(640, 480, 30, frame.FormatMJPEG), mode(320, 240, 30, frame.FormatMJPEG)}
	yuyvSizes = []prop.Media{mode(640, 480, 30, frame.FormatYUYV), mode(640, 480, 15, frame.FormatYUYV), mode(1280, 720, 10, frame.FormatYUYV), mode(320, 240, 30, frame.FormatYUYV), mode(160, 120, 30, frame.FormatYUYV),
		mode(1280, 720, 30, frame.FormatMJPEG)}
	nv12Only = []prop.Media{mode(1280, 720, 30, frame.FormatNV12), mode(640, 360, 30, frame.FormatNV12)}
	only720  = []prop.Media{mode(1280, 720, 30, frame.FormatYUYV)}
)

// TestCameraModeChoice: the mode closest to the requested size and rate is
// recorded, the frames are decoded from the camera's format and scaled to
// fit the requested box when no mode matches it.
func TestCameraModeChoice(t *testing.T) {
	for _, c := range []struct {
		name       string
		modes      []prop.Media
		w, h, fps  int
		want       prop.Media
		outW, outH int
	}{
		{"mjpeg-640", mjpegOnly, 640, 480, 30, mode(640, 480, 30, frame.FormatMJPEG), 640, 480},
		{"mjpeg-720p", mjpegOnly, 1280, 720, 30, mode(1280, 720, 30, frame.FormatMJPEG), 1280, 720},
		{"yuyv-640@15", yuyvSizes, 640, 480, 15, mode(640, 480, 15, frame.FormatYUYV), 640, 480},
		{"yuyv-320", yuyvSizes, 320, 240, 30, mode(320, 240, 30, frame.FormatYUYV), 320, 240},
		{"yuyv-cam-720p@30-takes-mjpeg-over-yuyv@10", yuyvSizes, 1280, 720, 30, mode(1280, 720, 30, frame.FormatMJPEG), 1280, 720},
		{"nv12-360p", nv12Only, 640, 360, 30, mode(640, 360, 30, frame.FormatNV12), 640, 360},
		{"nv12-scaled", nv12Only, 320, 240, 30, mode(640, 360, 30, frame.FormatNV12), 320, 180},
		{"only-720p-scaled", only720, 640, 480, 30, mode(1280, 720, 30, frame.FormatYUYV), 640, 360},
	} {
		t.Run(c.name, func(t *testing.T) {
			cam := registerFakeCamera(t, "fake-"+c.name, c.modes...)
			d, err := findCamera(Config{Camera: "fake-" + c.name})
			if err != nil {
				t.Fatal(err)
			}
			src, err := openDeviceVideo(d, bestCameraProp(c.w, c.h, c.fps), c.w, c.h)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			img, err := src.Read()
			if err != nil {
				t.Fatal(err)
			}
			got := cam.mode()
			if got.Width != c.want.Width || got.Height != c.want.Height || got.FrameRate != c.want.FrameRate || got.FrameFormat != c.want.FrameFormat {
				t.Errorf("recorded %dx%d@%g %s, want %dx%d@%g %s", got.Width, got.Height, got.FrameRate, got.FrameFormat,
					c.want.Width, c.want.Height, c.want.FrameRate, c.want.FrameFormat)
			}
			if img.Rect.Dx() != c.outW || img.Rect.Dy() != c.outH {
				t.Errorf("frames %dx%d, want %dx%d", img.Rect.Dx(), img.Rect.Dy(), c.outW, c.outH)
			}
			w, h := img.Rect.Dx(), img.Rect.Dy()
			left, right := img.Y[h/2*img.YStride+w/4], img.Y[h/2*img.YStride+3*w/4]
			if left < 185 || left > 215 || right < 35 || right > 65 {
				t.Errorf("luma left %d right %d, want ≈ 200 and 50", left, right)
			}
		})
	}
}

// TestCameraUnplugged: a camera whose reads start failing mid-call keeps
// the track alive with black frames showing the peer's name, and is
// reopened when it is back; the receiver gets frames throughout.
func TestCameraUnplugged(t *testing.T) {
	cam := registerFakeCamera(t, "fake-unplug", yuyvSizes...)
	m := openMedia(t, Config{Video: "camera", Camera: "fake-unplug", Width: 320, Height: 240, FPS: 30, Name: "robot"})
	api := newAPI(t, RegisterCodecs)
	c := dial(t, api, api, m.Tracks())
	eventually(t, "30 frames from the camera", func() bool { return c.rx.frames.Load() >= 30 })

	cam.unplug.Store(true)
	before := c.rx.frames.Load()
	eventually(t, "30 more frames while unplugged", func() bool { return c.rx.frames.Load() >= before+30 })
	opens := cam.opens.Load()

	cam.unplug.Store(false)
	eventually(t, "the camera reopened", func() bool { return cam.opens.Load() > opens })
	before = c.rx.frames.Load()
	eventually(t, "30 frames after the replug", func() bool { return c.rx.frames.Load() >= before+30 })
	c.close(t)
}

func TestNameCard(t *testing.T) {
	img := nameCard(320, 240, "robot")
	var bright, dark int
	for _, v := range img.Y {
		if v > 100 {
			bright++
		} else if v <= 16 {
			dark++
		}
	}
	if bright == 0 || dark < len(img.Y)*9/10 {
		t.Errorf("%d bright and %d black pixels of %d: want a black card with the name", bright, dark, len(img.Y))
	}
}

func TestDevicesListsModes(t *testing.T) {
	registerFakeCamera(t, "fake-list", nv12Only...)
	ds, err := Devices(testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.ID == "fake-list" {
			if d.Kind != KindCamera || len(d.Modes) != 2 || d.Modes[0].String() != "1280x720@30 NV12" {
				t.Errorf("device %+v", d)
			}
			return
		}
	}
	t.Errorf("fake camera not listed: %s", fmt.Sprint(ds))
}
