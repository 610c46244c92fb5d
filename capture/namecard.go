package capture

import (
	"image"
	"image/color"
	"image/draw"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// nameCard is a black w×h frame with name in grey in its middle: what a
// peer shows while its camera is gone.
func nameCard(w, h int, name string) *image.YCbCr {
	img := newI420(w, h)
	for i := range img.Y {
		img.Y[i] = 16
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 128, 128
	}
	if name == "" {
		return img
	}
	face := basicfont.Face7x13
	tw := font.MeasureString(face, name).Ceil()
	text := image.NewGray(image.Rect(0, 0, tw, 13))
	(&font.Drawer{Dst: text, Src: image.NewUniform(color.Gray{Y: 200}), Face: face, Dot: fixed.P(0, 11)}).DrawString(name)
	scale := max(1, min(w*2/3/max(tw, 1), h/6/13))
	big := image.NewGray(image.Rect(0, 0, tw*scale, 13*scale))
	for y := range big.Rect.Dy() {
		for x := range big.Rect.Dx() {
			big.Pix[y*big.Stride+x] = text.Pix[(y/scale)*text.Stride+x/scale]
		}
	}
	x0, y0 := max(0, (w-big.Rect.Dx())/2), max(0, (h-big.Rect.Dy())/2)
	lum := &image.Gray{Pix: img.Y, Stride: img.YStride, Rect: img.Rect}
	draw.Draw(lum, image.Rect(x0, y0, x0+big.Rect.Dx(), y0+big.Rect.Dy()), big, image.Point{}, draw.Over)
	for i, v := range img.Y {
		img.Y[i] = max(16, v)
	}
	return img
}
