package capture

import (
	"image"
	"image/color"
	"testing"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/driver/screen"

	"github.com/videochat/videochat/internal/xvfbtest"
)

// rgbAt converts the I420 pixel at (x, y) to RGB.
func rgbAt(img *image.YCbCr, x, y int) (r, g, b uint8) {
	c := img.YCbCrAt(x, y)
	return color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
}

// startScreens starts an Xvfb display showing img and registers its
// screens with mediadevices' X11 driver, as the driver does at program
// start when DISPLAY is set.
func startScreens(t *testing.T, w, h int, img image.Image) {
	t.Helper()
	d := xvfbtest.Start(t, w, h)
	d.Setenv(t)
	d.Paint(img)
	m := driver.GetManager()
	before := map[string]bool{}
	for _, dr := range screenDrivers() {
		before[dr.ID()] = true
	}
	screen.Initialize()
	for _, dr := range screenDrivers() {
		if !before[dr.ID()] {
			t.Cleanup(func() { m.Delete(dr.ID()) })
		}
	}
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
