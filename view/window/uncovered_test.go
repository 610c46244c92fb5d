package window_test

import (
	"testing"

	"github.com/videochat/videochat/view/window"
)

// TestUncovered: the rectangles Uncovered returns and the tiles together
// cover every pixel of the window exactly once.
func TestUncovered(t *testing.T) {
	for _, sz := range [][2]int{{1280, 720}, {800, 600}, {333, 201}, {640, 1000}} {
		w, h := sz[0], sz[1]
		for n := 0; n <= 7; n++ {
			tiles := window.Rects(n, w, h)
			hits := make([]int, w*h)
			mark := func(x0, y0, x1, y1 int) {
				for y := max(y0, 0); y < min(y1, h); y++ {
					for x := max(x0, 0); x < min(x1, w); x++ {
						hits[y*w+x]++
					}
				}
			}
			for _, tr := range tiles {
				c := tr.Picture.Union(tr.Caption)
				mark(c.Min.X, c.Min.Y, c.Max.X, c.Max.Y)
			}
			for _, r := range window.Uncovered(w, h, tiles) {
				mark(r.Min.X, r.Min.Y, r.Max.X, r.Max.Y)
			}
			for i, c := range hits {
				if c != 1 {
					t.Fatalf("%dx%d, %d tiles: pixel (%d,%d) covered %d times", w, h, n, i%w, i/w, c)
				}
			}
		}
	}
}
