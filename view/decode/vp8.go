package decode

/*
#cgo pkg-config: vpx
#include <stdlib.h>
#include <vpx/vpx_decoder.h>
#include <vpx/vp8dx.h>

static vpx_codec_ctx_t *vc_open(int *err) {
	vpx_codec_ctx_t *ctx = calloc(1, sizeof(vpx_codec_ctx_t));
	if (!ctx) { *err = -1; return NULL; }
	vpx_codec_dec_cfg_t cfg = {0};
	cfg.threads = 1;
	vpx_codec_err_t e = vpx_codec_dec_init(ctx, vpx_codec_vp8_dx(), &cfg, 0);
	if (e != VPX_CODEC_OK) { free(ctx); *err = (int)e; return NULL; }
	*err = 0;
	return ctx;
}

static int vc_decode(vpx_codec_ctx_t *ctx, const unsigned char *data, unsigned int n) {
	return (int)vpx_codec_decode(ctx, data, n, NULL, 0);
}

static vpx_image_t *vc_frame(vpx_codec_ctx_t *ctx) {
	vpx_codec_iter_t it = NULL;
	vpx_image_t *img = NULL, *last = NULL;
	while ((img = vpx_codec_get_frame(ctx, &it)) != NULL) last = img;
	return last;
}

static void vc_close(vpx_codec_ctx_t *ctx) {
	vpx_codec_destroy(ctx);
	free(ctx);
}
*/
import "C"

import (
	"fmt"
	"image"
	"unsafe"
)

// vp8 is libvpx's VP8 decoder.
type vp8 struct {
	ctx *C.vpx_codec_ctx_t
}

func newVP8() (*vp8, error) {
	var e C.int
	ctx := C.vc_open(&e)
	if ctx == nil {
		return nil, fmt.Errorf("decode: vpx_codec_dec_init: %d", int(e))
	}
	return &vp8{ctx: ctx}, nil
}

// vp8Size reads the picture size of a VP8 key frame (RFC 6386 9.1), or
// ok=false for an interframe or a frame too short to say.
func vp8Size(b []byte) (w, h int, ok bool) {
	if len(b) < 10 || b[0]&1 != 0 || b[3] != 0x9d || b[4] != 0x01 || b[5] != 0x2a {
		return 0, 0, false
	}
	w = int(b[6]) | int(b[7]&0x3f)<<8
	h = int(b[8]) | int(b[9]&0x3f)<<8
	return w, h, true
}

func (d *vp8) Decode(frame []byte, reuse *image.YCbCr) (*image.YCbCr, error) {
	if d.ctx == nil {
		return nil, fmt.Errorf("decode: closed")
	}
	if len(frame) == 0 {
		return nil, ErrCorrupt
	}
	if w, h, ok := vp8Size(frame); ok && (w > MaxWidth || h > MaxHeight || w == 0 || h == 0) {
		return nil, fmt.Errorf("%w: %dx%d", ErrTooLarge, w, h)
	}
	if rc := C.vc_decode(d.ctx, (*C.uchar)(unsafe.Pointer(&frame[0])), C.uint(len(frame))); rc != 0 {
		return nil, fmt.Errorf("%w: vpx error %d", ErrCorrupt, int(rc))
	}
	img := C.vc_frame(d.ctx)
	if img == nil {
		return nil, ErrNoPicture
	}
	if img.fmt != C.VPX_IMG_FMT_I420 {
		return nil, ErrFormat
	}
	w, h := int(img.d_w), int(img.d_h)
	if w > MaxWidth || h > MaxHeight {
		return nil, fmt.Errorf("%w: %dx%d", ErrTooLarge, w, h)
	}
	ys, us, vs := int(img.stride[0]), int(img.stride[1]), int(img.stride[2])
	ch := (h + 1) / 2
	y := unsafe.Slice((*byte)(unsafe.Pointer(img.planes[0])), ys*h)
	u := unsafe.Slice((*byte)(unsafe.Pointer(img.planes[1])), us*ch)
	v := unsafe.Slice((*byte)(unsafe.Pointer(img.planes[2])), vs*ch)
	return copyI420(reuse, w, h, y, u, v, ys, us, vs), nil
}

func (d *vp8) Close() {
	if d.ctx != nil {
		C.vc_close(d.ctx)
		d.ctx = nil
	}
}
