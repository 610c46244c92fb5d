package playback

// Opus through the system's libopus (Debian libopus-dev), bound directly:
// the few calls playback needs (decode, in-band FEC, concealment) and, for
// tests and benchmarks, an encoder with in-band FEC switched on.
//
// Invariants: a decoder or encoder is used by one goroutine at a time (the
// stream's lock guards it) and is freed exactly once by Close; after Close
// every method fails with errClosed instead of touching freed memory.

/*
#cgo pkg-config: opus
#include <opus.h>
#include <stdlib.h>

static int vc_enc_set_fec(OpusEncoder *e, int on, int loss) {
	int r = opus_encoder_ctl(e, OPUS_SET_INBAND_FEC(on));
	if (r != OPUS_OK) return r;
	return opus_encoder_ctl(e, OPUS_SET_PACKET_LOSS_PERC(loss));
}
static int vc_enc_set_bitrate(OpusEncoder *e, int bps) {
	return opus_encoder_ctl(e, OPUS_SET_BITRATE(bps));
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// Rate is the sample rate of everything playback decodes, mixes and plays.
const Rate = 48000

var errClosed = errors.New("opus: closed")

// opusError is a libopus error code.
type opusError int

func (e opusError) Error() string {
	return "opus: " + C.GoString(C.opus_strerror(C.int(e)))
}

// decoder is one libopus decoder, mono at Rate.
type decoder struct {
	p *C.OpusDecoder
}

func newDecoder() (*decoder, error) {
	var errno C.int
	p := C.opus_decoder_create(C.opus_int32(Rate), 1, &errno)
	if errno != C.OPUS_OK || p == nil {
		return nil, fmt.Errorf("opus decoder: %w", opusError(errno))
	}
	return &decoder{p: p}, nil
}

// decode decodes pkt into pcm and returns the number of samples written.
// With fec it instead recovers the frame before pkt from pkt's in-band FEC
// data (libopus conceals when pkt carries none); pcm must then be exactly
// the missing frame's length. pkt nil (or empty) means plain concealment of
// len(pcm) samples.
func (d *decoder) decode(pkt []byte, pcm []int16, fec bool) (int, error) {
	if d.p == nil {
		return 0, errClosed
	}
	if len(pcm) == 0 {
		return 0, nil
	}
	var data *C.uchar
	if len(pkt) > 0 {
		data = (*C.uchar)(unsafe.Pointer(&pkt[0]))
	}
	flag := C.int(0)
	if fec {
		flag = 1
	}
	n := C.opus_decode(d.p, data, C.opus_int32(len(pkt)), (*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)), flag)
	if n < 0 {
		return 0, opusError(n)
	}
	return int(n), nil
}

func (d *decoder) Close() {
	if d.p != nil {
		C.opus_decoder_destroy(d.p)
		d.p = nil
	}
}

// Encoder is a libopus VoIP encoder, mono at Rate, with in-band FEC: what
// tests and benchmarks use to make real Opus packets.
type Encoder struct {
	p *C.OpusEncoder
}

// NewEncoder returns an encoder at bitrate bits/s whose packets carry
// in-band FEC tuned for lossPercent expected loss.
func NewEncoder(bitrate, lossPercent int) (*Encoder, error) {
	var errno C.int
	p := C.opus_encoder_create(C.opus_int32(Rate), 1, C.OPUS_APPLICATION_VOIP, &errno)
	if errno != C.OPUS_OK || p == nil {
		return nil, fmt.Errorf("opus encoder: %w", opusError(errno))
	}
	e := &Encoder{p: p}
	if r := C.vc_enc_set_fec(p, 1, C.int(lossPercent)); r != C.OPUS_OK {
		e.Close()
		return nil, fmt.Errorf("opus encoder fec: %w", opusError(r))
	}
	if r := C.vc_enc_set_bitrate(p, C.int(bitrate)); r != C.OPUS_OK {
		e.Close()
		return nil, fmt.Errorf("opus encoder bitrate: %w", opusError(r))
	}
	return e, nil
}

// Encode encodes one frame (2.5–60 ms of mono samples) into a new packet.
func (e *Encoder) Encode(pcm []int16) ([]byte, error) {
	if e.p == nil {
		return nil, errClosed
	}
	if len(pcm) == 0 {
		return nil, errors.New("opus: empty frame")
	}
	out := make([]byte, 1500)
	n := C.opus_encode(e.p, (*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)), (*C.uchar)(unsafe.Pointer(&out[0])), C.opus_int32(len(out)))
	if n < 0 {
		return nil, opusError(n)
	}
	return out[:n], nil
}

// Close frees the encoder.
func (e *Encoder) Close() {
	if e.p != nil {
		C.opus_encoder_destroy(e.p)
		e.p = nil
	}
}

// packetSamples returns the number of samples at Rate that an Opus packet
// holds, from its TOC byte and frame count (RFC 6716 §3.1), or an error for
// a packet that is not valid Opus. It is pure Go so that a packet is judged
// before it is stored.
func packetSamples(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, errors.New("empty packet")
	}
	toc := p[0]
	cfg := int(toc >> 3)
	var frame int // samples per frame at 48 kHz
	switch {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		frame = []int{480, 960, 1920, 2880}[cfg%4]
	case cfg < 16: // hybrid: 10, 20 ms
		frame = []int{480, 960}[cfg%2]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = []int{120, 240, 480, 960}[cfg%4]
	}
	var frames int
	switch toc & 3 {
	case 0:
		frames = 1
	case 1, 2:
		frames = 2
	default:
		if len(p) < 2 {
			return 0, errors.New("truncated packet: code 3 without frame count")
		}
		frames = int(p[1] & 0x3f)
		if frames == 0 {
			return 0, errors.New("packet with zero frames")
		}
	}
	n := frames * frame
	if n > Rate*120/1000 {
		return 0, fmt.Errorf("packet of %d samples, more than 120 ms", n)
	}
	return n, nil
}
