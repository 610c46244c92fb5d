package capture

import (
	"image"
	"time"

	"github.com/videochat/videochat/internal/timestrip"
)

// patternSource is the "test" video: smooth diagonal colour gradients that
// drift, and a bright square that bounces around. It is cheap to draw (row
// copies from lookup tables) and easy on encoders, unlike a noisy test card.
// The top-left corner carries the capture time as a strip of black and
// white blocks (internal/timestrip) for glass-to-glass measurements.
type patternSource struct {
	img      *image.YCbCr
	interval time.Duration
	n        int
	lutY     []byte
	lutCb    []byte
	lutCr    []byte
}

const patternBox = 64

func newPatternSource(w, h, fps int) *patternSource {
	return &patternSource{
		img:      newI420(w, h),
		interval: time.Second / time.Duration(fps),
		lutY:     triangleLUT(w+512, 60, 190, 1),
		lutCb:    triangleLUT(w/2+512, 70, 190, 2),
		lutCr:    triangleLUT(w/2+512, 80, 180, 3),
	}
}

// triangleLUT returns n values rising from lo to hi and back over 512
// entries (a period of 512/step), starting at phase 0.
func triangleLUT(n int, lo, hi byte, step int) []byte {
	out := make([]byte, n)
	span := int(hi - lo)
	for i := range out {
		p := (i * step) % 512
		if p >= 256 {
			p = 511 - p
		}
		out[i] = lo + byte(p*span/255)
	}
	return out
}

func (s *patternSource) Interval() time.Duration { return s.interval }

func (s *patternSource) Close() error { return nil }

func (s *patternSource) Read() (*image.YCbCr, error) {
	img, t := s.img, s.n
	s.n++
	w, h := img.Rect.Dx(), img.Rect.Dy()
	for y := 0; y < h; y++ {
		off := (y/2 + 2*t) % 512
		copy(img.Y[y*img.YStride:y*img.YStride+w], s.lutY[off:])
	}
	for y := 0; y < h/2; y++ {
		offB := (y + t) % 512
		offR := (h/2 - y + 3*t) % 512
		copy(img.Cb[y*img.CStride:y*img.CStride+w/2], s.lutCb[offB:])
		copy(img.Cr[y*img.CStride:y*img.CStride+w/2], s.lutCr[offR:])
	}
	s.drawBox(t)
	timestrip.Draw(img, time.Now())
	return img, nil
}

// drawBox draws a light square bouncing between the edges.
func (s *patternSource) drawBox(t int) {
	img := s.img
	w, h := img.Rect.Dx(), img.Rect.Dy()
	bx, by := bounce(t*4, w-patternBox), bounce(t*3, h-patternBox)
	for y := by; y < by+patternBox && y < h; y++ {
		row := img.Y[y*img.YStride:]
		for x := bx; x < bx+patternBox && x < w; x++ {
			row[x] = 230
		}
	}
	for y := by / 2; y < (by+patternBox)/2 && y < h/2; y++ {
		for x := bx / 2; x < (bx+patternBox)/2 && x < w/2; x++ {
			img.Cb[y*img.CStride+x] = 100
			img.Cr[y*img.CStride+x] = 160
		}
	}
}

// bounce maps a position growing with time onto 0..limit and back.
func bounce(pos, limit int) int {
	if limit <= 0 {
		return 0
	}
	p := pos % (2 * limit)
	if p > limit {
		p = 2*limit - p
	}
	return p
}
