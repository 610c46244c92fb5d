//go:build !nogui

package window

// Pictures made at the size they are shown, for SDL's software renderer.
// Invariants:
//   - Used only by the software renderer (Run's painter.argb != 0): a GPU
//     scales and converts YUV for nothing, and SDL's software renderer
//     does both in plain C (a nearest-pixel RGB stretch of the whole
//     picture at every present, ≈ 10 % of the viewer's CPU in
//     BenchmarkViewCPU). libyuv (Chromium's) does them in SIMD, once per
//     new frame.
//   - A tile's texture is a streaming texture of the window surface's own
//     32-bit format at the size the picture is shown (view.Fit), so SDL's
//     copy of it is an unscaled blit between equal formats: row copies.
//   - Same picture as the YUV texture path: nearest-pixel scaling (what
//     the software renderer does), BT.601 studio range (view.RGB).
//   - Only 4:2:0 frames take this path; others keep the IYUV texture.

/*
#cgo linux freebsd darwin openbsd pkg-config: sdl2
#cgo LDFLAGS: -lyuv
#include <SDL.h>
#include <libyuv/convert_argb.h>
#include <libyuv/scale_argb.h>

// vc_show_i420 writes the w×h I420 picture, scaled to dw×dh by nearest
// pixel, into the dw×dh streaming texture tex (32 bits a pixel in libyuv's
// ARGB byte order B,G,R,A). Only the source rows shown are converted,
// each into row (w×4 bytes) and from there scaled into its place (both
// SIMD in libyuv). 0, or -1 (SDL's error) or -2 (libyuv's).
static int vc_show_i420(SDL_Texture *tex,
		const uint8_t *y, int ys, const uint8_t *u, const uint8_t *v, int cs,
		int w, int h, uint8_t *row, int dw, int dh) {
	uint8_t *px;
	int pitch;
	if (SDL_LockTexture(tex, NULL, (void **)&px, &pitch) != 0) {
		return -1;
	}
	int r = 0;
	if (w == dw && h == dh) {
		r = I420ToARGB(y, ys, u, cs, v, cs, px, pitch, w, h);
	} else {
		for (int i = 0; i < dh && r == 0; i++) {
			int sy = (int)(((int64_t)i * 2 + 1) * h / (2 * (int64_t)dh)); // the row whose centre is nearest
			int c = sy / 2 * cs;
			r = I420ToARGB(y + sy * ys, ys, u + c, cs, v + c, cs, row, w * 4, w, 1);
			if (r == 0) {
				r = ARGBScale(row, w * 4, w, 1, px + i * pitch, pitch, dw, 1, kFilterNone);
			}
		}
	}
	SDL_UnlockTexture(tex);
	return r == 0 ? 0 : -2;
}
*/
import "C"

import (
	"fmt"
	"image"
	"unsafe"

	"github.com/veandco/go-sdl2/sdl"
)

// argbFormat is the texture format pictures are drawn in for the software
// renderer of win: the window surface's own when libyuv's ARGB fits it
// (XRGB or ARGB, 32 bits, little-endian), else 0 (keep the IYUV path).
func argbFormat(win *sdl.Window) uint32 {
	f, err := win.GetPixelFormat()
	if err != nil {
		return 0
	}
	switch f {
	case sdl.PIXELFORMAT_RGB888, sdl.PIXELFORMAT_ARGB8888:
		var one uint16 = 1
		if *(*byte)(unsafe.Pointer(&one)) == 1 { // libyuv's ARGB is B,G,R,A in memory
			return f
		}
	}
	return 0
}

// showARGB writes f, scaled to dw×dh, into tex (made by drawPicture in
// an argbFormat at that size); row is vc_show_i420's row buffer, grown as
// needed.
func showARGB(tex *sdl.Texture, f *image.YCbCr, dw, dh int, row *[]byte) error {
	w, h := f.Rect.Dx(), f.Rect.Dy()
	if len(*row) < w*4 {
		*row = make([]byte, w*4)
	}
	yi := f.YOffset(f.Rect.Min.X, f.Rect.Min.Y)
	ci := f.COffset(f.Rect.Min.X, f.Rect.Min.Y)
	r := C.vc_show_i420((*C.SDL_Texture)(unsafe.Pointer(tex)),
		(*C.uint8_t)(unsafe.Pointer(&f.Y[yi])), C.int(f.YStride),
		(*C.uint8_t)(unsafe.Pointer(&f.Cb[ci])), (*C.uint8_t)(unsafe.Pointer(&f.Cr[ci])), C.int(f.CStride),
		C.int(w), C.int(h), (*C.uint8_t)(unsafe.Pointer(&(*row)[0])), C.int(dw), C.int(dh))
	switch r {
	case 0:
		return nil
	case -1:
		return sdl.GetError()
	default:
		return fmt.Errorf("libyuv: cannot convert %dx%d to %dx%d", w, h, dw, dh)
	}
}
