package capture

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/prop"

	"github.com/videochat/videochat/internal/fakecam"
)

// registerFakeCamera adds a fake camera (internal/fakecam, the driver the
// e2e tests' binary registers too) with label id until the test ends.
func registerFakeCamera(t *testing.T, id string, modes ...prop.Media) *fakecam.Camera {
	t.Helper()
	c, remove, err := fakecam.Register(id, "", modes...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(remove)
	return c
}

func models(t *testing.T, name string) []prop.Media {
	m, ok := fakecam.Modes(name)
	if !ok {
		t.Fatalf("no fake camera model %q", name)
	}
	return m
}

var mode = fakecam.Mode

// TestCameraModeChoice: the mode closest to the requested size and rate is
// recorded, the frames are decoded from the camera's format and scaled to
// fit the requested box when no mode matches it.
func TestCameraModeChoice(t *testing.T) {
	for _, c := range []struct {
		name       string
		model      string
		w, h, fps  int
		want       prop.Media
		outW, outH int
	}{
		{"mjpeg-640", "mjpeg", 640, 480, 30, mode(640, 480, 30, frame.FormatMJPEG), 640, 480},
		{"mjpeg-720p", "mjpeg", 1280, 720, 30, mode(1280, 720, 30, frame.FormatMJPEG), 1280, 720},
		{"yuyv-640@15", "yuyv", 640, 480, 15, mode(640, 480, 15, frame.FormatYUYV), 640, 480},
		{"yuyv-320", "yuyv", 320, 240, 30, mode(320, 240, 30, frame.FormatYUYV), 320, 240},
		{"yuyv-cam-720p@30-takes-mjpeg-over-yuyv@10", "yuyv", 1280, 720, 30, mode(1280, 720, 30, frame.FormatMJPEG), 1280, 720},
		{"nv12-360p", "nv12", 640, 360, 30, mode(640, 360, 30, frame.FormatNV12), 640, 360},
		{"nv12-scaled", "nv12", 320, 240, 30, mode(640, 360, 30, frame.FormatNV12), 320, 180},
		{"only-720p-scaled", "hd720", 640, 480, 30, mode(1280, 720, 30, frame.FormatYUYV), 640, 360},
	} {
		t.Run(c.name, func(t *testing.T) {
			cam := registerFakeCamera(t, "fake-"+c.name, models(t, c.model)...)
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
			got := cam.Recorded()
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
	cam := registerFakeCamera(t, "fake-unplug", models(t, "yuyv")...)
	m := openMedia(t, Config{Video: "camera", Camera: "fake-unplug", Width: 320, Height: 240, FPS: 30, Name: "robot"})
	api := newAPI(t, RegisterCodecs)
	c := dial(t, api, api, m.Tracks())
	eventually(t, "30 frames from the camera", func() bool { return c.rx.frames.Load() >= 30 })

	cam.Unplug(true)
	before := c.rx.frames.Load()
	eventually(t, "30 more frames while unplugged", func() bool { return c.rx.frames.Load() >= before+30 })
	opens := cam.Opens()

	cam.Unplug(false)
	eventually(t, "the camera reopened", func() bool { return cam.Opens() > opens })
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
	registerFakeCamera(t, "fake-list", models(t, "nv12")...)
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

// TestCameraBusy: a camera another program streams from (EBUSY when a
// stream starts) is a clear error at Open, wrapping ErrDeviceBusy, naming
// the camera and the way on. Busy when the pipeline starts (after Open
// found it free), the track sends the name card and the camera's frames
// once it is free; the receiver gets frames throughout.
func TestCameraBusy(t *testing.T) {
	cam := registerFakeCamera(t, "fake-busy", models(t, "yuyv")...)
	cam.Busy(true)
	_, err := Open(Config{Video: "camera", Camera: "fake-busy", Audio: SourceNone, Logger: testLogger(t)})
	if !errors.Is(err, ErrDeviceBusy) || !strings.Contains(err.Error(), "fake-busy") || !strings.Contains(err.Error(), "--video test") {
		t.Fatalf("Open of a busy camera: %v; want ErrDeviceBusy naming fake-busy and --video test", err)
	}

	cam.Busy(false)
	m := openMedia(t, Config{Video: "camera", Camera: "fake-busy", Width: 320, Height: 240, FPS: 30, Name: "robot"})
	cam.Busy(true)
	streams := cam.Streams() // Open's trial
	api := newAPI(t, RegisterCodecs)
	c := dial(t, api, api, m.Tracks())
	eventually(t, "30 frames (the name card) while the camera is busy", func() bool { return c.rx.frames.Load() >= 30 })
	if cam.Streams() != streams {
		t.Fatalf("a busy camera started streaming (%d streams, want %d)", cam.Streams(), streams)
	}
	cam.Busy(false)
	eventually(t, "the camera streaming", func() bool { return cam.Streams() > streams })
	before := c.rx.frames.Load()
	eventually(t, "30 frames from the camera", func() bool { return c.rx.frames.Load() >= before+30 })
	c.close(t)
}
