package xvfbtest_test

import (
	"image"
	"image/color"
	"testing"

	"github.com/videochat/videochat/internal/xvfbtest"
)

// TestGrab: a grab of part of the screen has the painted colours at the
// right places.
func TestGrab(t *testing.T) {
	d := xvfbtest.Start(t, 320, 240)
	d.Paint(halves(320, 240, color.RGBA{200, 30, 30, 255}, color.RGBA{30, 200, 90, 255}))
	g, err := d.Grabber()
	if err != nil {
		t.Fatal(err)
	}
	got, at, err := g.Grab(image.Rect(150, 100, 170, 110))
	if err != nil {
		t.Fatal(err)
	}
	if at.IsZero() || got.Bounds().Dx() != 20 || got.Bounds().Dy() != 10 {
		t.Fatalf("grab %v at %v", got.Bounds(), at)
	}
	for _, p := range []struct {
		x       int
		r, g, b uint8
	}{{2, 200, 30, 30}, {17, 30, 200, 90}} {
		c := got.RGBAAt(p.x, 5)
		if d := absDiff(c.R, p.r) + absDiff(c.G, p.g) + absDiff(c.B, p.b); d > 30 {
			t.Errorf("pixel %d = %v, want about %d,%d,%d", p.x, c, p.r, p.g, p.b)
		}
	}
}
