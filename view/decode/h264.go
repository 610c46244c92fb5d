package decode

/*
#cgo pkg-config: libavcodec libavutil
#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>

typedef struct {
	AVCodecContext *ctx;
	AVPacket *pkt;
	AVFrame *frame;
} h264dec;

static h264dec *hd_open(int maxPixels) {
	av_log_set_level(AV_LOG_QUIET);
	const AVCodec *c = avcodec_find_decoder(AV_CODEC_ID_H264);
	if (!c) return NULL;
	h264dec *d = av_mallocz(sizeof(h264dec));
	if (!d) return NULL;
	d->ctx = avcodec_alloc_context3(c);
	d->pkt = av_packet_alloc();
	d->frame = av_frame_alloc();
	if (!d->ctx || !d->pkt || !d->frame) goto fail;
	d->ctx->thread_count = 1;
	d->ctx->max_pixels = maxPixels;
	d->ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
	d->ctx->err_recognition = 0;
	if (avcodec_open2(d->ctx, c, NULL) < 0) goto fail;
	return d;
fail:
	av_frame_free(&d->frame);
	av_packet_free(&d->pkt);
	avcodec_free_context(&d->ctx);
	av_free(d);
	return NULL;
}

// hd_decode sends one access unit and receives at most the newest frame:
// 1 = a frame is in d->frame, 0 = none yet, <0 = error.
static int hd_decode(h264dec *d, uint8_t *data, int n) {
	av_frame_unref(d->frame);
	d->pkt->data = data;
	d->pkt->size = n;
	int rc = avcodec_send_packet(d->ctx, d->pkt);
	d->pkt->data = NULL;
	d->pkt->size = 0;
	if (rc < 0 && rc != AVERROR(EAGAIN)) return rc;
	int got = 0;
	for (;;) {
		AVFrame *f = av_frame_alloc();
		if (!f) return got;
		rc = avcodec_receive_frame(d->ctx, f);
		if (rc < 0) { av_frame_free(&f); break; }
		av_frame_unref(d->frame);
		av_frame_move_ref(d->frame, f);
		av_frame_free(&f);
		got = 1;
	}
	return got;
}

static int hd_fmt_420(h264dec *d) {
	return d->frame->format == AV_PIX_FMT_YUV420P || d->frame->format == AV_PIX_FMT_YUVJ420P;
}

static void hd_close(h264dec *d) {
	av_frame_free(&d->frame);
	av_packet_free(&d->pkt);
	avcodec_free_context(&d->ctx);
	av_free(d);
}
*/
import "C"

import (
	"fmt"
	"image"
	"unsafe"
)

// h264 is libavcodec's H.264 decoder, single-threaded, low delay, limited
// to MaxWidth×MaxHeight pixels (max_pixels) so a hostile stream cannot make
// it allocate more.
type h264 struct {
	d *C.h264dec
	// in holds the frame in C memory with the padding libavcodec reads past
	// the end of a packet.
	in []byte
}

func newH264() (*h264, error) {
	d := C.hd_open(C.int(MaxWidth * MaxHeight))
	if d == nil {
		return nil, fmt.Errorf("decode: cannot open libavcodec's H.264 decoder")
	}
	return &h264{d: d}, nil
}

func (d *h264) Decode(frame []byte, reuse *image.YCbCr) (*image.YCbCr, error) {
	if d.d == nil {
		return nil, fmt.Errorf("decode: closed")
	}
	if len(frame) == 0 {
		return nil, ErrCorrupt
	}
	need := len(frame) + C.AV_INPUT_BUFFER_PADDING_SIZE
	if cap(d.in) < need {
		d.in = make([]byte, need)
	}
	d.in = d.in[:need]
	copy(d.in, frame)
	clear(d.in[len(frame):])
	rc := C.hd_decode(d.d, (*C.uint8_t)(unsafe.Pointer(&d.in[0])), C.int(len(frame)))
	if rc < 0 {
		return nil, fmt.Errorf("%w: libavcodec error %d", ErrCorrupt, int(rc))
	}
	if rc == 0 {
		return nil, ErrNoPicture
	}
	f := d.d.frame
	if C.hd_fmt_420(d.d) == 0 {
		return nil, ErrFormat
	}
	w, h := int(f.width), int(f.height)
	if w <= 0 || h <= 0 || w > MaxWidth || h > MaxHeight {
		return nil, fmt.Errorf("%w: %dx%d", ErrTooLarge, w, h)
	}
	ys, us, vs := int(f.linesize[0]), int(f.linesize[1]), int(f.linesize[2])
	ch := (h + 1) / 2
	y := unsafe.Slice((*byte)(unsafe.Pointer(f.data[0])), ys*h)
	u := unsafe.Slice((*byte)(unsafe.Pointer(f.data[1])), us*ch)
	v := unsafe.Slice((*byte)(unsafe.Pointer(f.data[2])), vs*ch)
	img := copyI420(reuse, w, h, y, u, v, ys, us, vs)
	return img, nil
}

func (d *h264) Close() {
	if d.d != nil {
		C.hd_close(d.d)
		d.d = nil
	}
}
