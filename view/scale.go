package view

import "image"

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
		img = halve(img)
		resized = true
	}
	return img, resized
}

func halve(src *image.YCbCr) *image.YCbCr {
	w, h := src.Rect.Dx()/2, src.Rect.Dy()/2
	dst := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	halvePlane(dst.Y, dst.YStride, src.Y, src.YStride, w, h)
	cw, ch := (w+1)/2, (h+1)/2
	scw, sch := (src.Rect.Dx()+1)/2, (src.Rect.Dy()+1)/2
	halvePlane(dst.Cb, dst.CStride, src.Cb, src.CStride, min(cw, scw/2), min(ch, sch/2))
	halvePlane(dst.Cr, dst.CStride, src.Cr, src.CStride, min(cw, scw/2), min(ch, sch/2))
	return dst
}

func halvePlane(dst []byte, ds int, src []byte, ss, w, h int) {
	for y := 0; y < h; y++ {
		a, b := src[2*y*ss:], src[(2*y+1)*ss:]
		d := dst[y*ds:]
		for x := 0; x < w; x++ {
			d[x] = byte((int(a[2*x]) + int(a[2*x+1]) + int(b[2*x]) + int(b[2*x+1]) + 2) / 4)
		}
	}
}
