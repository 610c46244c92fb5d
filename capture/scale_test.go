package capture

import "testing"

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
		if w, h := fitSize(c.w, c.h, c.mw, c.mh); w != c.ww || h != c.wh {
			t.Errorf("fit %dx%d in %dx%d: %dx%d, want %dx%d", c.w, c.h, c.mw, c.mh, w, h, c.ww, c.wh)
		}
	}
}

// TestScaleI420 halves a frame whose left half is bright: the halves stay
// bright and dark, with one blended column at most at the edge.
func TestScaleI420(t *testing.T) {
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
	scaleI420(dst, src)
	for x := 0; x < 32; x++ {
		v := dst.Y[8*dst.YStride+x]
		switch {
		case x < 15 && v != 200, x > 16 && v != 40:
			t.Errorf("x=%d: luma %d", x, v)
		}
	}
}
