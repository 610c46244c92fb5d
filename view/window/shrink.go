//go:build !nogui

package window

// shrink: the software renderer's pictures are scaled down to the size
// they are shown at in YUV (1.5 bytes a pixel, one pass in C), before SDL
// converts them to RGB, instead of SDL converting the whole picture and
// then stretching it in RGB (4 bytes a pixel, its slowest loop here:
// BENCHMARKS.md, "CPU of showing two remote peers"). Nearest pixel, as
// the software renderer scales. Invariant: shrinkI420 writes only dst.

/*
#include <stdint.h>

// vc_shrink_plane scales an sw×sh plane (stride ss) to dw×dh (stride ds),
// nearest pixel, sampling at the centre of each destination pixel.
static void vc_shrink_plane(const uint8_t *src, int sw, int sh, int ss, uint8_t *dst, int dw, int dh, int ds) {
	int xmap[4096];
	if (dw > 4096) dw = 4096;
	for (int x = 0; x < dw; x++) xmap[x] = (int)(((2L * x + 1) * sw) / (2L * dw));
	for (int y = 0; y < dh; y++) {
		const uint8_t *s = src + (long)(((2L * y + 1) * sh) / (2L * dh)) * ss;
		uint8_t *d = dst + (long)y * ds;
		for (int x = 0; x < dw; x++) d[x] = s[xmap[x]];
	}
}
*/
import "C"

import (
	"image"
	"unsafe"
)

// shrinkI420 scales the 4:2:0 picture src down to w×h into dst, reusing
// dst when it has that size (else a new picture), and returns it.
func shrinkI420(dst, src *image.YCbCr, w, h int) *image.YCbCr {
	if dst == nil || dst.Rect != image.Rect(0, 0, w, h) {
		dst = image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	}
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	plane := func(s []byte, sw, sh, ss int, d []byte, dw, dh, ds int) {
		if sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0 {
			return
		}
		C.vc_shrink_plane((*C.uint8_t)(unsafe.Pointer(&s[0])), C.int(sw), C.int(sh), C.int(ss),
			(*C.uint8_t)(unsafe.Pointer(&d[0])), C.int(dw), C.int(dh), C.int(ds))
	}
	plane(src.Y[src.YOffset(src.Rect.Min.X, src.Rect.Min.Y):], sw, sh, src.YStride, dst.Y, w, h, dst.YStride)
	co := src.COffset(src.Rect.Min.X, src.Rect.Min.Y)
	scw, sch, dcw, dch := (sw+1)/2, (sh+1)/2, (w+1)/2, (h+1)/2
	plane(src.Cb[co:], scw, sch, src.CStride, dst.Cb, dcw, dch, dst.CStride)
	plane(src.Cr[co:], scw, sch, src.CStride, dst.Cr, dcw, dch, dst.CStride)
	return dst
}
