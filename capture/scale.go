package capture

import (
	"image"
	"image/color"
	"image/draw"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// fitSize is the largest even size with w×h's aspect that fits in
// maxW×maxH; a frame that already fits keeps its (even) size.
func fitSize(w, h, maxW, maxH int) (int, int) {
	if w <= maxW && h <= maxH {
		return max(2, w&^1), max(2, h&^1)
	}
	if w*maxH > h*maxW { // wider than the box
		return maxW &^ 1, max(2, (h*maxW/w)&^1)
	}
	return max(2, (w*maxH/h)&^1), maxH &^ 1
}

// scaleI420 resamples src into dst (both 4:2:0) bilinearly, plane by
// plane; equal sizes are a copy.
func scaleI420(dst, src *image.YCbCr) {
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	dw, dh := dst.Rect.Dx(), dst.Rect.Dy()
	scalePlane(dst.Y, dst.YStride, dw, dh, src.Y[src.YOffset(src.Rect.Min.X, src.Rect.Min.Y):], src.YStride, sw, sh)
	co := src.COffset(src.Rect.Min.X, src.Rect.Min.Y)
	scalePlane(dst.Cb, dst.CStride, dw/2, dh/2, src.Cb[co:], src.CStride, sw/2, sh/2)
	scalePlane(dst.Cr, dst.CStride, dw/2, dh/2, src.Cr[co:], src.CStride, sw/2, sh/2)
}

func scalePlane(dst []byte, dstStride, dw, dh int, src []byte, srcStride, sw, sh int) {
	if dw == sw && dh == sh {
		copyPlane(dst, dstStride, src, srcStride, dw, dh)
		return
	}
	// 16.16 fixed point source coordinates of pixel centres.
	xs := (sw << 16) / dw
	ys := (sh << 16) / dh
	for y := 0; y < dh; y++ {
		sy := max(0, (y*ys+ys/2)-1<<15)
		y0 := min(sy>>16, sh-1)
		y1 := min(y0+1, sh-1)
		fy := sy & 0xffff
		r0, r1 := src[y0*srcStride:], src[y1*srcStride:]
		out := dst[y*dstStride : y*dstStride+dw]
		for x := range out {
			sx := max(0, (x*xs+xs/2)-1<<15)
			x0 := min(sx>>16, sw-1)
			x1 := min(x0+1, sw-1)
			fx := sx & 0xffff
			top := int(r0[x0])*(0x10000-fx) + int(r0[x1])*fx
			bot := int(r1[x0])*(0x10000-fx) + int(r1[x1])*fx
			out[x] = byte(((top>>16)*(0x10000-fy) + (bot>>16)*fy + 0x8000) >> 16)
		}
	}
}

func copyPlane(dst []byte, dstStride int, src []byte, srcStride, w, h int) {
	for y := 0; y < h; y++ {
		copy(dst[y*dstStride:y*dstStride+w], src[y*srcStride:])
	}
}

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
