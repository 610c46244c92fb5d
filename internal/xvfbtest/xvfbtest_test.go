package xvfbtest_test

import (
	"image"
	"image/color"
	"testing"

	"github.com/videochat/videochat/internal/xvfbtest"
)

func TestPaintThenScreenshot(t *testing.T) {
	d := xvfbtest.Start(t, 320, 240)
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for y := 0; y < 240; y++ {
		for x := 0; x < 320; x++ {
			c := color.RGBA{200, 30, 30, 255} // left half red
			if x >= 160 {
				c = color.RGBA{30, 30, 200, 255} // right half blue
			}
			img.Set(x, y, c)
		}
	}
	d.Paint(img)
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
