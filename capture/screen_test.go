package capture

import (
	"image"
	"image/color"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/xvfbtest"
)

// rgbAt converts the I420 pixel at (x, y) to RGB.
func rgbAt(img *image.YCbCr, x, y int) (r, g, b uint8) {
	c := img.YCbCrAt(x, y)
	return color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
}

// startScreens starts an Xvfb display showing img, as DISPLAY.
func startScreens(t *testing.T, w, h int, img image.Image) *xvfbtest.Display {
	t.Helper()
	d := xvfbtest.Start(t, w, h)
	d.Setenv(t)
	d.Paint(img)
	return d
}

// TestScreenCapture: --video screen sends the X display scaled to fit the
// requested box, with its colours where they are on the screen.
func TestScreenCapture(t *testing.T) {
	startScreens(t, 640, 400, xvfbtest.Quadrants(640, 400))
	cfg := Config{Video: "screen", Width: 320, Height: 240}.withDefaults()
	if cfg.FPS != DefaultScreenFPS {
		t.Errorf("screen fps %d, want %d", cfg.FPS, DefaultScreenFPS)
	}
	d, err := findScreen(0)
	if err != nil {
		t.Fatal(err)
	}
	src, err := openDeviceVideo(d, screenProp(cfg.FPS), cfg.Width, cfg.Height)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	img, err := src.Read()
	if err != nil {
		t.Fatal(err)
	}
	if img.Rect.Dx() != 320 || img.Rect.Dy() != 200 {
		t.Errorf("frame %dx%d, want 320x200 (640x400 fitted into 320x240)", img.Rect.Dx(), img.Rect.Dy())
	}
	for _, p := range []struct {
		x, y    int
		r, g, b uint8
	}{{80, 50, 220, 20, 20}, {240, 50, 20, 220, 20}, {80, 150, 20, 20, 220}, {240, 150, 255, 255, 255}} {
		r, g, b := rgbAt(img, p.x, p.y)
		if absDiff(r, p.r) > 30 || absDiff(g, p.g) > 30 || absDiff(b, p.b) > 30 {
			t.Errorf("pixel (%d,%d) = %d,%d,%d, want ≈ %d,%d,%d", p.x, p.y, r, g, b, p.r, p.g, p.b)
		}
	}
	if _, err := Open(Config{Video: "screen:7", Logger: testLogger(t)}); err == nil {
		t.Error("screen:7 of a one-screen display opened")
	}
	ds, _ := Devices(testLogger(t))
	if !hasKind(ds, KindScreen) {
		t.Errorf("devices %+v lack the screen", ds)
	}
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

// TestScreenSurvivesXServerDeath: the X server of --video screen is
// killed mid-capture. The process lives on (Xlib would call exit), the
// source sends the peer's name card instead of the screen, and when a
// server is back on the same display the screen's pixels come back.
func TestScreenSurvivesXServerDeath(t *testing.T) {
	d := startScreens(t, 320, 240, xvfbtest.Quadrants(320, 240))
	log := testLogger(t)
	cfg := Config{Video: "screen", Width: 320, Height: 240, Name: "scr", Logger: log}.withDefaults()
	dr, err := findScreen(0)
	if err != nil {
		t.Fatal(err)
	}
	src, err := resilient(cfg, log, func() (videoSource, error) {
		return openDeviceVideo(dr, screenProp(cfg.FPS), cfg.Width, cfg.Height)
	})()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	// topLeftRed reports whether the top-left quadrant shows the red of
	// xvfbtest.Quadrants (the name card is black with grey text).
	topLeftRed := func(img *image.YCbCr) bool {
		r, g, _ := rgbAt(img, img.Rect.Dx()/4, img.Rect.Dy()/4)
		return r > 180 && g < 60
	}
	// readUntil reads frames until ok or the deadline (reopening happens
	// every second, on a loaded machine Xvfb takes a while).
	readUntil := func(what string, ok func(*image.YCbCr) bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
			img, err := src.Read()
			if err != nil {
				t.Fatalf("%s: Read: %v", what, err)
			}
			if ok(img) {
				return
			}
		}
		t.Fatalf("no frame with %s within 30 s", what)
	}
	readUntil("the screen", topLeftRed)
	d.Kill()
	readUntil("the name card", func(img *image.YCbCr) bool {
		c := img.YCbCrAt(img.Rect.Dx()/4, img.Rect.Dy()/4)
		return c.Y < 40 && img.Rect.Dx() == 320 && img.Rect.Dy() == 240
	})
	d.Restart()
	d.Paint(xvfbtest.Quadrants(320, 240))
	readUntil("the screen again", topLeftRed)
}
