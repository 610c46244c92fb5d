// Package opus binds the system's libopus (Debian libopus-dev) directly:
// the one place in videochat that calls it. capture encodes the live audio
// with it (in-band FEC and DTX, which mediadevices' encoder does not
// expose); playback decodes with it (in-band FEC recovery and loss
// concealment) and its tests encode reference packets.
//
// Invariants: an Encoder or Decoder is used by one goroutine at a time (its
// owner serialises) and is freed exactly once by Close; after Close every
// method fails with ErrClosed instead of touching freed memory. In-band FEC
// is on exactly when the planned loss rate is above zero.
package opus

/*
#cgo pkg-config: opus
#include <opus.h>

static int vc_enc_setup(OpusEncoder *e, int bitrate, int dtx) {
	int r = opus_encoder_ctl(e, OPUS_SET_BITRATE(bitrate));
	if (r != OPUS_OK) return r;
	return opus_encoder_ctl(e, OPUS_SET_DTX(dtx));
}
static int vc_enc_set_loss(OpusEncoder *e, int perc) {
	int r = opus_encoder_ctl(e, OPUS_SET_INBAND_FEC(perc > 0 ? 1 : 0));
	if (r != OPUS_OK) return r;
	return opus_encoder_ctl(e, OPUS_SET_PACKET_LOSS_PERC(perc));
}
static int vc_enc_get(OpusEncoder *e, int *fec, int *loss, int *dtx) {
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
)

// Rate is the sample rate of every encoder and decoder here.
const Rate = 48000

// MaxLossPercent caps the loss rate an encoder plans its FEC for.
const MaxLossPercent = 30

// ErrClosed is returned by the methods of a closed Encoder or Decoder.
var ErrClosed = errors.New("opus: closed")

// Error is a libopus error code.
type Error int

func (e Error) Error() string {
	return "opus: " + C.GoString(C.opus_strerror(C.int(e)))
}

// EncoderConfig configures a VoIP encoder at Rate.
type EncoderConfig struct {
	Channels int // 1 or 2
	Bitrate  int // bits/s
	// DTX lets the encoder send a 1–2 byte packet every 400 ms in silence.
	DTX bool
	// LossPercent is the loss the receivers are expected to see; from 1 the
	// packets carry in-band FEC (see SetLoss).
	LossPercent int
}

// Encoder is a libopus VoIP encoder.
type Encoder struct {
	p        *C.OpusEncoder
	channels int
	loss     int // the loss percentage last set
}

// NewEncoder returns an encoder configured by cfg.
func NewEncoder(cfg EncoderConfig) (*Encoder, error) {
	var errno C.int
	p := C.opus_encoder_create(C.opus_int32(Rate), C.int(cfg.Channels), C.OPUS_APPLICATION_VOIP, &errno)
	if errno != C.OPUS_OK || p == nil {
		return nil, fmt.Errorf("opus encoder: %w", Error(errno))
	}
	e := &Encoder{p: p, channels: cfg.Channels, loss: -1}
	dtx := C.int(0)
	if cfg.DTX {
		dtx = 1
	}
	if r := C.vc_enc_setup(p, C.int(cfg.Bitrate), dtx); r != C.OPUS_OK {
		e.Close()
		return nil, fmt.Errorf("opus encoder setup: %w", Error(r))
	}
	if err := e.SetLoss(cfg.LossPercent); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Channels is the number of interleaved channels the encoder takes.
func (e *Encoder) Channels() int { return e.channels }

// SetLoss tells the encoder the percentage of packets the receivers lose
// (clamped to 0…MaxLossPercent): in-band FEC is on from 1 %.
func (e *Encoder) SetLoss(perc int) error {
	if e.p == nil {
		return ErrClosed
	}
	perc = min(max(perc, 0), MaxLossPercent)
	if perc == e.loss {
		return nil
	}
	if r := C.vc_enc_set_loss(e.p, C.int(perc)); r != C.OPUS_OK {
		return fmt.Errorf("opus set loss: %w", Error(r))
	}
	e.loss = perc
	return nil
}

// Settings reads back in-band FEC, the planned loss percentage and DTX.
func (e *Encoder) Settings() (fec bool, lossPerc int, dtx bool) {
	if e.p == nil {
		return false, 0, false
	}
	var f, l, d C.int
	C.vc_enc_get(e.p, &f, &l, &d)
	return f != 0, int(l), d != 0
}

// EncodeInt16 compresses one frame (2.5–60 ms of interleaved samples) into
// out and returns the packet's length. A packet of 2 bytes or less is a DTX
// frame, not to be sent.
func (e *Encoder) EncodeInt16(pcm []int16, out []byte) (int, error) {
	if err := e.check(len(pcm), out); err != nil {
		return 0, err
	}
	n := C.opus_encode(e.p, (*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)/e.channels),
		(*C.uchar)(unsafe.Pointer(&out[0])), C.opus_int32(len(out)))
	if n < 0 {
		return 0, Error(n)
	}
	return int(n), nil
}

// EncodeFloat32 is EncodeInt16 for samples in -1…1.
func (e *Encoder) EncodeFloat32(pcm []float32, out []byte) (int, error) {
	if err := e.check(len(pcm), out); err != nil {
		return 0, err
	}
	n := C.opus_encode_float(e.p, (*C.float)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)/e.channels),
		(*C.uchar)(unsafe.Pointer(&out[0])), C.opus_int32(len(out)))
	if n < 0 {
		return 0, Error(n)
	}
	return int(n), nil
}

func (e *Encoder) check(samples int, out []byte) error {
	switch {
	case e.p == nil:
		return ErrClosed
	case samples == 0 || samples%e.channels != 0:
		return fmt.Errorf("opus: frame of %d samples for %d channels", samples, e.channels)
	case len(out) == 0:
		return errors.New("opus: no room for the packet")
	}
	return nil
}

// Close frees the encoder.
func (e *Encoder) Close() {
	if e.p != nil {
		C.opus_encoder_destroy(e.p)
		e.p = nil
	}
}

// Decoder is a libopus decoder at Rate.
type Decoder struct {
	p        *C.OpusDecoder
	channels int
}

// NewDecoder returns a decoder of channels interleaved channels.
func NewDecoder(channels int) (*Decoder, error) {
	var errno C.int
	p := C.opus_decoder_create(C.opus_int32(Rate), C.int(channels), &errno)
	if errno != C.OPUS_OK || p == nil {
		return nil, fmt.Errorf("opus decoder: %w", Error(errno))
	}
	return &Decoder{p: p, channels: channels}, nil
}

// Decode decodes pkt into pcm (interleaved) and returns the number of
// samples per channel written. With fec it instead recovers the frame before pkt from
// pkt's in-band FEC data (libopus conceals when pkt carries none); pcm must
// then be exactly the missing frame's length. pkt nil (or empty) means
// plain concealment of len(pcm) samples.
func (d *Decoder) Decode(pkt []byte, pcm []int16, fec bool) (int, error) {
	if d.p == nil {
		return 0, ErrClosed
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
	n := C.opus_decode(d.p, data, C.opus_int32(len(pkt)), (*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)/d.channels), flag)
	if n < 0 {
		return 0, Error(n)
	}
	return int(n), nil
}

// Close frees the decoder.
func (d *Decoder) Close() {
	if d.p != nil {
		C.opus_decoder_destroy(d.p)
		d.p = nil
	}
}
