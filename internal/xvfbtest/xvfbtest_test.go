package xvfbtest_test

import (
	"image"
	"image/color"
	"testing"

	"github.com/videochat/videochat/internal/xvfbtest"
)

func TestPaintThenScreenshot(t *testing.T) {
	d := xvfbtest.Start(t, 320, 240)
	d.Paint(halves(320, 240, color.RGBA{200, 30, 30, 255}, color.RGBA{30, 30, 200, 255})) // red | blue
	shot := d.Screenshot()
	if b := shot.Bounds(); b.Dx() != 320 || b.Dy() != 240 {
		t.Fatalf("screenshot %v, want 320x240", b)
	}
	for _, p := range []struct {
		x, y    int
		r, g, b uint8
	}{{40, 120, 200, 30, 30}, {280, 120, 30, 30, 200}} {
		r, g, b, _ := shot.At(p.x, p.y).RGBA()
		if d := absDiff(uint8(r>>8), p.r) + absDiff(uint8(g>>8), p.g) + absDiff(uint8(b>>8), p.b); d > 30 {
			t.Errorf("pixel (%d,%d) = %d,%d,%d, want about %d,%d,%d", p.x, p.y, r>>8, g>>8, b>>8, p.r, p.g, p.b)
		}
	}
}

// halves is a w×h picture whose left half is left and right half right.
func halves(w, h int, left, right color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := left
			if x >= w/2 {
				c = right
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

// TestKillRestart: after Kill the display refuses clients; Restart brings
// a server back on the same display number.
func TestKillRestart(t *testing.T) {
	d := xvfbtest.Start(t, 64, 48)
	name := d.Name
	d.Kill()
	if err := d.Cmd("import", "-silent", "-window", "root", "png:-").Run(); err == nil {
		t.Error("a client connected to the killed display")
	}
	d.Restart()
	if d.Name != name {
		t.Errorf("restarted on %s, want %s", d.Name, name)
	}
	if b := d.Screenshot().Bounds(); b.Dx() != 64 || b.Dy() != 48 {
		t.Errorf("screenshot of the restarted display %v, want 64x48", b)
	}
}
