// Package i420 resizes 4:2:0 pictures (image.YCbCr with
// YCbCrSubsampleRatio420) and fits pictures into boxes: the one scaler of
// videochat, used by capture (camera and screen frames to --width/--height,
// the halved simulcast layers) and by view (pictures above 1080p, tiles).
// Pure Go, no cgo, so that view can use it without pulling in capture.
//
// Invariants: the functions write only dst's visible rectangle and never
// allocate; sizes come from the rectangles, strides from the images.
package i420

import "image"

// Fit returns the largest rectangle with the aspect ratio of a pw×ph
// picture inside r, centred. A zero picture or an empty r gives r.
func Fit(r image.Rectangle, pw, ph int) image.Rectangle {
	if pw <= 0 || ph <= 0 || r.Empty() {
		return r
	}
	w, h := r.Dx(), r.Dy()
	if w*ph > h*pw { // r is wider than the picture
		w = h * pw / ph
	} else {
		h = w * ph / pw
	}
	x, y := r.Min.X+(r.Dx()-w)/2, r.Min.Y+(r.Dy()-h)/2
	return image.Rect(x, y, x+w, y+h)
}

// FitSize is the largest even size with w×h's aspect that fits in
// maxW×maxH, never larger than w×h: a picture that already fits keeps its
// (even) size.
func FitSize(w, h, maxW, maxH int) (int, int) {
	if w <= maxW && h <= maxH {
		return max(2, w&^1), max(2, h&^1)
	}
	r := Fit(image.Rect(0, 0, maxW, maxH), w, h)
	return max(2, r.Dx()&^1), max(2, r.Dy()&^1)
}

// Scale resamples src into dst bilinearly, plane by plane; equal sizes are
// a copy.
func Scale(dst, src *image.YCbCr) {
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	dw, dh := dst.Rect.Dx(), dst.Rect.Dy()
	scalePlane(dst.Y, dst.YStride, dw, dh, src.Y[src.YOffset(src.Rect.Min.X, src.Rect.Min.Y):], src.YStride, sw, sh)
	co := src.COffset(src.Rect.Min.X, src.Rect.Min.Y)
	scalePlane(dst.Cb, dst.CStride, dw/2, dh/2, src.Cb[co:], src.CStride, sw/2, sh/2)
	scalePlane(dst.Cr, dst.CStride, dw/2, dh/2, src.Cr[co:], src.CStride, sw/2, sh/2)
}

// Halve writes the top-left 2w×2h of src into the w×h dst with a 2×2 box
// filter: the fast exact path for halving (simulcast layers, big remote
// pictures). src must be at least twice dst's size.
func Halve(dst, src *image.YCbCr) {
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	halvePlane(dst.Y, dst.YStride, src.Y, src.YStride, w, h)
	// Chroma: every dst chroma sample whose 2×2 source samples exist.
	scw, sch := (src.Rect.Dx()+1)/2, (src.Rect.Dy()+1)/2
	cw, ch := min((w+1)/2, scw/2), min((h+1)/2, sch/2)
	halvePlane(dst.Cb, dst.CStride, src.Cb, src.CStride, cw, ch)
	halvePlane(dst.Cr, dst.CStride, src.Cr, src.CStride, cw, ch)
}

func halvePlane(dst []byte, ds int, src []byte, ss, w, h int) {
	for y := 0; y < h; y++ {
		a, b := src[2*y*ss:], src[(2*y+1)*ss:]
		d := dst[y*ds:]
		for x := 0; x < w; x++ {
			d[x] = byte((int(a[2*x]) + int(a[2*x+1]) + int(b[2*x]) + int(b[2*x+1]) + 2) >> 2)
		}
	}
}

func scalePlane(dst []byte, dstStride, dw, dh int, src []byte, srcStride, sw, sh int) {
	if dw == sw && dh == sh {
		for y := 0; y < dh; y++ {
			copy(dst[y*dstStride:y*dstStride+dw], src[y*srcStride:])
		}
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
