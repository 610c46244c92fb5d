//go:build !nogui

package window

import (
	"image"
	"math/rand/v2"
	"testing"
)

// TestShrinkI420: each plane of the shrunk picture is the nearest-pixel
// sample (at pixel centres) of the source, for a cropped source too, and
// the destination picture is reused when it has the size.
func TestShrinkI420(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	big := image.NewYCbCr(image.Rect(0, 0, 650, 490), image.YCbCrSubsampleRatio420)
	for _, p := range [][]byte{big.Y, big.Cb, big.Cr} {
		for i := range p {
			p[i] = byte(r.IntN(256))
		}
	}
	src := big.SubImage(image.Rect(4, 6, 644, 486)).(*image.YCbCr) // 640×480, not at the origin
	near := func(d, dn, sn int) int { return ((2*d + 1) * sn) / (2 * dn) }
	var dst *image.YCbCr
	for _, sz := range [][2]int{{480, 360}, {320, 240}, {479, 359}, {1, 1}} {
		w, h := sz[0], sz[1]
		dst = shrinkI420(dst, src, w, h)
		if dst.Rect != image.Rect(0, 0, w, h) {
			t.Fatalf("shrunk to %v, want %dx%d", dst.Rect, w, h)
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				sx, sy := src.Rect.Min.X+near(x, w, 640), src.Rect.Min.Y+near(y, h, 480)
				if got, want := dst.Y[dst.YOffset(x, y)], src.Y[src.YOffset(sx, sy)]; got != want {
					t.Fatalf("%dx%d: Y(%d,%d) = %d, want %d", w, h, x, y, got, want)
				}
			}
		}
		cw, ch := (w+1)/2, (h+1)/2
		co := src.COffset(src.Rect.Min.X, src.Rect.Min.Y)
		for y := 0; y < ch; y++ {
			for x := 0; x < cw; x++ {
				i := co + near(y, ch, 240)*src.CStride + near(x, cw, 320)
				if dst.Cb[y*dst.CStride+x] != src.Cb[i] || dst.Cr[y*dst.CStride+x] != src.Cr[i] {
					t.Fatalf("%dx%d: chroma (%d,%d) is not the source's nearest sample", w, h, x, y)
				}
			}
		}
	}
	again := shrinkI420(dst, src, 1, 1)
	if again != dst {
		t.Error("a destination of the right size was not reused")
	}
}
