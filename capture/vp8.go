package capture

// #cgo pkg-config: vpx
// #include <stdlib.h>
// #include <string.h>
// #include <vpx/vpx_encoder.h>
// #include <vpx/vp8cx.h>
//
// typedef struct {
//   vpx_codec_ctx_t ctx;
//   vpx_codec_enc_cfg_t cfg;
//   vpx_image_t img;
//   vpx_codec_iter_t iter;
// } vc_enc;
//
// typedef struct {
//   int width, height, bitrate_kbps, threads, cpu_used, kf_max_dist;
//   int min_q, max_q, undershoot, overshoot, buf_sz, buf_initial, buf_optimal;
//   int static_threshold, max_intra_pct, drop_frame_thresh;
// } vc_params;
//
// static vc_enc *vc_new(vc_params p, int *err) {
//   vpx_codec_iface_t *iface = vpx_codec_vp8_cx();
//   vc_enc *e = calloc(1, sizeof(vc_enc));
//   if (e == NULL) { *err = VPX_CODEC_MEM_ERROR; return NULL; }
//   vpx_codec_err_t rc = vpx_codec_enc_config_default(iface, &e->cfg, 0);
//   if (rc != VPX_CODEC_OK) { *err = rc; free(e); return NULL; }
//   vpx_codec_enc_cfg_t *c = &e->cfg;
//   c->g_w = p.width;
//   c->g_h = p.height;
//   c->g_timebase.num = 1;
//   c->g_timebase.den = 90000;
//   c->g_threads = p.threads;
//   c->g_lag_in_frames = 0;
//   c->g_error_resilient = 0;
//   c->g_pass = VPX_RC_ONE_PASS;
//   c->rc_end_usage = VPX_CBR;
//   c->rc_target_bitrate = p.bitrate_kbps;
//   c->rc_min_quantizer = p.min_q;
//   c->rc_max_quantizer = p.max_q;
//   c->rc_undershoot_pct = p.undershoot;
//   c->rc_overshoot_pct = p.overshoot;
//   c->rc_buf_sz = p.buf_sz;
//   c->rc_buf_initial_sz = p.buf_initial;
//   c->rc_buf_optimal_sz = p.buf_optimal;
//   c->rc_dropframe_thresh = p.drop_frame_thresh;
//   c->rc_resize_allowed = 0;
//   c->kf_mode = VPX_KF_AUTO;
//   c->kf_min_dist = 0;
//   c->kf_max_dist = p.kf_max_dist;
//   rc = vpx_codec_enc_init(&e->ctx, iface, c, 0);
//   if (rc != VPX_CODEC_OK) { *err = rc; free(e); return NULL; }
//   vpx_codec_control(&e->ctx, VP8E_SET_CPUUSED, p.cpu_used);
//   vpx_codec_control(&e->ctx, VP8E_SET_STATIC_THRESHOLD, (unsigned int)p.static_threshold);
//   vpx_codec_control(&e->ctx, VP8E_SET_NOISE_SENSITIVITY, 0u);
//   vpx_codec_control(&e->ctx, VP8E_SET_MAX_INTRA_BITRATE_PCT, (unsigned int)p.max_intra_pct);
//   vpx_codec_control(&e->ctx, VP8E_SET_TOKEN_PARTITIONS,
//                     p.threads > 1 ? VP8_TWO_TOKENPARTITION : VP8_ONE_TOKENPARTITION);
//   e->img.fmt = VPX_IMG_FMT_I420;
//   e->img.w = e->img.d_w = p.width;
//   e->img.h = e->img.d_h = p.height;
//   e->img.x_chroma_shift = 1;
//   e->img.y_chroma_shift = 1;
//   e->img.bps = 12;
//   return e;
// }
//
// // vc_encode encodes one I420 frame. The planes are only used during the call.
// static int vc_encode(vc_enc *e, unsigned char *y, unsigned char *u, unsigned char *v,
//                      int ystride, int cstride, long long pts, unsigned long dur, int force_kf) {
//   e->img.planes[0] = y; e->img.planes[1] = u; e->img.planes[2] = v;
//   e->img.stride[0] = ystride; e->img.stride[1] = cstride; e->img.stride[2] = cstride;
//   vpx_codec_err_t rc = vpx_codec_encode(&e->ctx, &e->img, pts, dur,
//                                         force_kf ? VPX_EFLAG_FORCE_KF : 0, VPX_DL_REALTIME);
//   e->img.planes[0] = e->img.planes[1] = e->img.planes[2] = NULL;
//   e->iter = NULL;
//   return rc;
// }
//
// // vc_next returns the next compressed frame of the last vc_encode, or 0.
// static int vc_next(vc_enc *e, const void **buf, size_t *size, int *key) {
//   const vpx_codec_cx_pkt_t *pkt;
//   while ((pkt = vpx_codec_get_cx_data(&e->ctx, &e->iter)) != NULL) {
//     if (pkt->kind == VPX_CODEC_CX_FRAME_PKT) {
//       *buf = pkt->data.frame.buf;
//       *size = pkt->data.frame.sz;
//       *key = (pkt->data.frame.flags & VPX_FRAME_IS_KEY) != 0;
//       return 1;
//     }
//   }
//   return 0;
// }
//
// static int vc_set_bitrate(vc_enc *e, int kbps) {
//   e->cfg.rc_target_bitrate = kbps;
//   return vpx_codec_enc_config_set(&e->ctx, &e->cfg);
// }
//
// static void vc_free(vc_enc *e) {
//   vpx_codec_destroy(&e->ctx);
//   free(e);
// }
import "C"

import (
	"fmt"
	"image"
	"time"
	"unsafe"
)

// vp8Params are the libvpx settings of the VP8 encoder, modelled on what
// libwebrtc uses for real-time calls.
type vp8Params struct {
	Width, Height, FPS int
	Bitrate            int // bits/s
	// CPUUsed is libvpx's real-time speed (VP8E_SET_CPUUSED, -16..16):
	// larger magnitudes are faster and lower quality. libwebrtc uses -6 on
	// desktops and -12 on weak devices.
	CPUUsed int
	Threads int
	// KeyFrameEvery is the longest distance between keyframes, in frames.
	// Live video uses libwebrtc's 3000 frames (100 s at 30 fps): receivers
	// ask for the keyframes they need (PLI/FIR), and on a lossy link every
	// unasked keyframe (up to 9 frames' worth of packets, so it almost
	// always needs a retransmission at 5 % loss) is a likely freeze.
	KeyFrameEvery int
	// MaxQuantizer caps the quantizer (0..63). libwebrtc uses 56; 63 lets
	// the rate control hold the target on noisy content (a 160x160 block of
	// noise: 1.2 Mbps at 63 against 1.7 Mbps at 56 for a 1 Mbps target).
	MaxQuantizer int
	// DropFrameThreshold lets the rate control skip frames when its buffer
	// runs low (0..100, 0 = never skip).
	DropFrameThreshold int
}

// liveKeyFrameSeconds is the longest time between two keyframes of a live
// encoder (see vp8Params.KeyFrameEvery).
const liveKeyFrameSeconds = 100

func defaultVP8Params(w, h, fps, bitrate int) vp8Params {
	threads := 1
	if w*h > 640*480 {
		threads = 2
	}
	return vp8Params{
		Width: w, Height: h, FPS: fps, Bitrate: bitrate,
		CPUUsed:       -8,
		MaxQuantizer:  63,
		Threads:       threads,
		KeyFrameEvery: liveKeyFrameSeconds * fps,
	}
}

// vp8Encoder is a thin wrapper around libvpx's VP8 encoder in real-time CBR
// mode. It is not safe for concurrent use.
type vp8Encoder struct {
	c      *C.vc_enc
	p      vp8Params
	out    []byte
	lastTS C.longlong // the previous frame's timestamp (90 kHz)
}

func newVP8Encoder(p vp8Params) (*vp8Encoder, error) {
	// Buffer model and intra limit as libwebrtc's LibvpxVp8Encoder sets them.
	cp := C.vc_params{
		width: C.int(p.Width), height: C.int(p.Height),
		bitrate_kbps: C.int(max(p.Bitrate/1000, 1)),
		threads:      C.int(max(p.Threads, 1)),
		cpu_used:     C.int(p.CPUUsed),
		kf_max_dist:  C.int(max(p.KeyFrameEvery, 1)),
		min_q:        2, max_q: C.int(p.MaxQuantizer),
		undershoot: 100, overshoot: 15,
		buf_sz: 1000, buf_initial: 500, buf_optimal: 600,
		static_threshold:  1,
		max_intra_pct:     C.int(maxIntraTargetPct(600, p.FPS)),
		drop_frame_thresh: C.int(p.DropFrameThreshold),
	}
	var cerr C.int
	c := C.vc_new(cp, &cerr)
	if c == nil {
		return nil, fmt.Errorf("vp8: encoder init %dx%d: %s", p.Width, p.Height, vpxError(cerr))
	}
	return &vp8Encoder{c: c, p: p}, nil
}

// maxIntraTargetPct limits a keyframe's size relative to an average frame,
// as libwebrtc does: half the optimal buffer, in frames.
func maxIntraTargetPct(optimalBufferMs, fps int) int {
	pct := optimalBufferMs * fps / 20
	return max(pct, 300)
}

func vpxError(code C.int) string {
	return C.GoString(C.vpx_codec_err_to_string(C.vpx_codec_err_t(code)))
}

// Encode compresses img (I420, the encoder's size) shown at pts. The
// returned slice is valid until the next call. An empty result means the
// rate control dropped the frame.
func (e *vp8Encoder) Encode(img *image.YCbCr, pts time.Duration, forceKey bool) ([]byte, bool, error) {
	if img.Rect.Dx() != e.p.Width || img.Rect.Dy() != e.p.Height {
		return nil, false, fmt.Errorf("vp8: frame %dx%d, encoder %dx%d", img.Rect.Dx(), img.Rect.Dy(), e.p.Width, e.p.Height)
	}
	ts := C.longlong(pts * 90000 / time.Second)
	// The frame lasts until the next one; frames skipped by the caller (a
	// lower frame rate) show in the timestamps, so the duration follows
	// the previous interval (the nominal one at first).
	dur := C.ulong(90000 / max(e.p.FPS, 1))
	if e.lastTS > 0 && ts > e.lastTS {
		dur = C.ulong(ts - e.lastTS)
	}
	e.lastTS = ts
	force := C.int(0)
	if forceKey {
		force = 1
	}
	rc := C.vc_encode(e.c,
		(*C.uchar)(unsafe.Pointer(&img.Y[0])), (*C.uchar)(unsafe.Pointer(&img.Cb[0])), (*C.uchar)(unsafe.Pointer(&img.Cr[0])),
		C.int(img.YStride), C.int(img.CStride), ts, dur, force)
	if rc != C.VPX_CODEC_OK {
		return nil, false, fmt.Errorf("vp8: encode: %s", vpxError(C.int(rc)))
	}
	e.out = e.out[:0]
	key := false
	var buf unsafe.Pointer
	var size C.size_t
	var k C.int
	for C.vc_next(e.c, &buf, &size, &k) != 0 {
		e.out = append(e.out, unsafe.Slice((*byte)(buf), int(size))...)
		key = key || k != 0
	}
	return e.out, key, nil
}

// SetBitrate changes the target bitrate in bits/s.
func (e *vp8Encoder) SetBitrate(bps int) error {
	if rc := C.vc_set_bitrate(e.c, C.int(max(bps/1000, 1))); rc != C.VPX_CODEC_OK {
		return fmt.Errorf("vp8: set bitrate: %s", vpxError(rc))
	}
	e.p.Bitrate = bps
	return nil
}

// Close frees the encoder.
func (e *vp8Encoder) Close() error {
	if e.c != nil {
		C.vc_free(e.c)
		e.c = nil
	}
	return nil
}
