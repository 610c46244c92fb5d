package xvfbtest

import (
	"image"
	"image/color"
)

// Quadrants is a w×h picture to Paint whose colours a test can find again
// in a captured frame: red, green, blue and white quadrants (top left, top
// right, bottom left, bottom right).
func Quadrants(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{255, 255, 255, 255}
			switch {
			case x < w/2 && y < h/2:
				c = color.RGBA{220, 20, 20, 255}
			case y < h/2:
				c = color.RGBA{20, 220, 20, 255}
			case x < w/2:
				c = color.RGBA{20, 20, 220, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}
