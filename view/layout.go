package view

import (
	"image"

	"github.com/videochat/videochat/capture/i420"
)

// Layout splits a w×h area into n tiles in a grid, row by row: the number of
// columns is the one that gives 4:3 pictures the most room. Every tile has
// the same size; the grid is centred.
func Layout(n, w, h int) []image.Rectangle {
	if n <= 0 || w <= 0 || h <= 0 {
		return nil
	}
	bestCols, best := 1, -1.0
	for cols := 1; cols <= n; cols++ {
		rows := (n + cols - 1) / cols
		tw, th := float64(w)/float64(cols), float64(h)/float64(rows)
		pw := min(tw, th*4/3) // a 4:3 picture fitted into the tile
		if area := pw * pw * 3 / 4; area > best {
			best, bestCols = area, cols
		}
	}
	cols := bestCols
	rows := (n + cols - 1) / cols
	tw, th := w/cols, h/rows
	x0, y0 := (w-tw*cols)/2, (h-th*rows)/2
	out := make([]image.Rectangle, n)
	for i := range out {
		c, r := i%cols, i/cols
		out[i] = image.Rect(x0+c*tw, y0+r*th, x0+(c+1)*tw, y0+(r+1)*th)
	}
	return out
}

// Fit returns the largest rectangle with the aspect ratio of a pw×ph
// picture inside r, centred (i420.Fit, shared with capture's scaling).
func Fit(r image.Rectangle, pw, ph int) image.Rectangle { return i420.Fit(r, pw, ph) }
