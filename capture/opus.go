package capture

// opus.go: the live audio encoder, libopus bound directly (Debian
// libopus-dev), because mediadevices' Opus encoder exposes neither in-band
// FEC nor DTX.
//
// Invariants: one goroutine (the audio pipeline) uses an encoder; Close
// frees it once. In-band FEC is on exactly when the loss the receivers
// report is at least 1 %, and the encoder is told that loss rate; DTX is
// always allowed (silence costs a packet every 400 ms, not 50 a second).

/*
#cgo pkg-config: opus
#include <opus.h>

static int vc_opus_setup(OpusEncoder *e, int bitrate) {
	int r = opus_encoder_ctl(e, OPUS_SET_BITRATE(bitrate));
	if (r != OPUS_OK) return r;
	return opus_encoder_ctl(e, OPUS_SET_DTX(1));
}
static int vc_opus_set_loss(OpusEncoder *e, int perc) {
	int r = opus_encoder_ctl(e, OPUS_SET_INBAND_FEC(perc > 0 ? 1 : 0));
	if (r != OPUS_OK) return r;
	return opus_encoder_ctl(e, OPUS_SET_PACKET_LOSS_PERC(perc));
}
static int vc_opus_get(OpusEncoder *e, int *fec, int *loss, int *dtx) {
	int r = opus_encoder_ctl(e, OPUS_GET_INBAND_FEC(fec));
	if (r != OPUS_OK) return r;
	r = opus_encoder_ctl(e, OPUS_GET_PACKET_LOSS_PERC(loss));
	if (r != OPUS_OK) return r;
	return opus_encoder_ctl(e, OPUS_GET_DTX(dtx));
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/pion/mediadevices/pkg/wave"
)

// maxLossPerc caps the loss rate the encoder plans its FEC for.
const maxLossPerc = 30

type opusEncoder struct {
	c        *C.OpusEncoder
	channels int
	loss     int // the loss percentage last set
	pcm      []int16
	out      []byte
}

func newOpus(channels, bitrate int) (*opusEncoder, error) {
	var cerr C.int
	c := C.opus_encoder_create(C.opus_int32(audioRate), C.int(channels), C.OPUS_APPLICATION_VOIP, &cerr)
	if cerr != C.OPUS_OK || c == nil {
		return nil, fmt.Errorf("opus: encoder init: %s", C.GoString(C.opus_strerror(cerr)))
	}
	e := &opusEncoder{c: c, channels: channels, out: make([]byte, 1500)}
	if r := C.vc_opus_setup(c, C.int(bitrate)); r != C.OPUS_OK {
		e.Close()
		return nil, fmt.Errorf("opus: setup: %s", C.GoString(C.opus_strerror(r)))
	}
	return e, nil
}

// setLoss tells the encoder the fraction of packets the receivers lose:
// in-band FEC is on from 1 %.
func (e *opusEncoder) setLoss(loss float64) error {
	perc := min(max(int(loss*100+0.5), 0), maxLossPerc)
	if perc == e.loss {
		return nil
	}
	if r := C.vc_opus_set_loss(e.c, C.int(perc)); r != C.OPUS_OK {
		return fmt.Errorf("opus: set loss: %s", C.GoString(C.opus_strerror(r)))
	}
	e.loss = perc
	return nil
}

// settings reads back in-band FEC, the planned loss percentage and DTX.
func (e *opusEncoder) settings() (fec bool, lossPerc int, dtx bool) {
	var f, l, d C.int
	C.vc_opus_get(e.c, &f, &l, &d)
	return f != 0, int(l), d != 0
}

// Encode compresses one 20 ms chunk. The result is valid until the next
// call; a result of 2 bytes or less is a DTX frame, not to be sent.
func (e *opusEncoder) Encode(chunk wave.Audio) ([]byte, error) {
	info := chunk.ChunkInfo()
	if info.Len != audioFrameTicks || info.Channels != e.channels {
		return nil, fmt.Errorf("opus: chunk of %d samples x %d channels, want %d x %d", info.Len, info.Channels, audioFrameTicks, e.channels)
	}
	var n C.opus_int32
	switch b := chunk.(type) {
	case *wave.Int16Interleaved:
		n = C.opus_encode(e.c, (*C.opus_int16)(unsafe.Pointer(&b.Data[0])), C.int(info.Len),
			(*C.uchar)(unsafe.Pointer(&e.out[0])), C.opus_int32(len(e.out)))
	case *wave.Float32Interleaved:
		n = C.opus_encode_float(e.c, (*C.float)(unsafe.Pointer(&b.Data[0])), C.int(info.Len),
			(*C.uchar)(unsafe.Pointer(&e.out[0])), C.opus_int32(len(e.out)))
	default:
		return nil, errors.New("opus: unsupported sample format")
	}
	if n < 0 {
		return nil, fmt.Errorf("opus: encode: %s", C.GoString(C.opus_strerror(C.int(n))))
	}
	return e.out[:n], nil
}

// Close frees the encoder.
func (e *opusEncoder) Close() error {
	if e.c != nil {
		C.opus_encoder_destroy(e.c)
		e.c = nil
	}
	return nil
}
