package i420

import (
	"image"
	"testing"
)

func newI420(w, h int) *image.YCbCr {
	return image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
}

func TestFitSize(t *testing.T) {
	for _, c := range []struct{ w, h, mw, mh, ww, wh int }{
		{640, 480, 640, 480, 640, 480},
		{1280, 720, 640, 480, 640, 360},
		{1920, 1080, 320, 240, 320, 180},
		{480, 640, 640, 480, 360, 480},
		{320, 240, 640, 480, 320, 240}, // smaller: not enlarged
		{1366, 768, 640, 480, 640, 358},
		{641, 481, 1280, 960, 640, 480}, // odd: made even
	} {
		if w, h := FitSize(c.w, c.h, c.mw, c.mh); w != c.ww || h != c.wh {
			t.Errorf("fit %dx%d in %dx%d: %dx%d, want %dx%d", c.w, c.h, c.mw, c.mh, w, h, c.ww, c.wh)
		}
	}
}

// TestScale halves a frame whose left half is bright: the halves stay
// bright and dark, with one blended column at most at the edge.
func TestScale(t *testing.T) {
	src := newI420(64, 32)
	for y := 0; y < 32; y++ {
		for x := 0; x < 64; x++ {
			if x < 32 {
				src.Y[y*src.YStride+x] = 200
			} else {
				src.Y[y*src.YStride+x] = 40
			}
		}
	}
	dst := newI420(32, 16)
	Scale(dst, src)
	for x := 0; x < 32; x++ {
		v := dst.Y[8*dst.YStride+x]
		switch {
		case x < 15 && v != 200, x > 16 && v != 40:
			t.Errorf("x=%d: luma %d", x, v)
		}
	}
}

// TestHalve: the 2×2 box filter averages each block (rounding half up), in
// luma and chroma, and fills the last chroma column of an odd-sized result.
func TestHalve(t *testing.T) {
	src := newI420(6, 4) // chroma 3×2
	for i := range src.Y {
		src.Y[i] = byte(i % 2 * 101) // columns 0, 101, 0, 101…: blocks average 50.5
	}
	for i := range src.Cb {
		src.Cb[i], src.Cr[i] = 10, 20
	}
	dst := newI420(3, 2) // chroma 2×1; only column 0 has a 2×2 source block
	Halve(dst, src)
	for y := range 2 {
		for x := range 3 {
			if v := dst.Y[y*dst.YStride+x]; v != 51 {
				t.Errorf("luma (%d,%d) = %d, want 51", x, y, v)
			}
		}
	}
	if dst.Cb[0] != 10 || dst.Cr[0] != 20 {
		t.Errorf("chroma %d/%d, want 10/20", dst.Cb[0], dst.Cr[0])
	}
}

func TestFit(t *testing.T) {
	for _, c := range []struct {
		r      image.Rectangle
		pw, ph int
		want   image.Rectangle
	}{
		{image.Rect(0, 0, 400, 300), 640, 480, image.Rect(0, 0, 400, 300)},
		{image.Rect(10, 0, 410, 300), 1280, 720, image.Rect(10, 37, 410, 262)},
		{image.Rect(0, 0, 400, 300), 480, 640, image.Rect(87, 0, 312, 300)},
		{image.Rect(0, 0, 400, 300), 0, 0, image.Rect(0, 0, 400, 300)},
	} {
		if got := Fit(c.r, c.pw, c.ph); got != c.want {
			t.Errorf("Fit(%v, %dx%d) = %v, want %v", c.r, c.pw, c.ph, got, c.want)
		}
	}
}
