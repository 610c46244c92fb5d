package view

import (
	"image"

	"github.com/videochat/videochat/capture/i420"
)

// Largest picture kept for showing; bigger ones (a peer sending 4K) are
// halved until they fit, so a tile never holds more than this.
const (
	showMaxW = 1920
	showMaxH = 1080
)

// shrink halves img (2×2 box filter) until it fits showMaxW×showMaxH.
func shrink(img *image.YCbCr) (*image.YCbCr, bool) {
	resized := false
	for img.Rect.Dx() > showMaxW || img.Rect.Dy() > showMaxH {
		half := image.NewYCbCr(image.Rect(0, 0, img.Rect.Dx()/2, img.Rect.Dy()/2), image.YCbCrSubsampleRatio420)
		i420.Halve(half, img)
		img = half
		resized = true
	}
	return img, resized
}
