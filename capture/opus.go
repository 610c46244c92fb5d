package capture

// opus.go: the live audio encoder, libopus through capture/opus, because
// mediadevices' Opus encoder exposes neither in-band FEC nor DTX.
//
// Invariants: one goroutine (the audio pipeline) uses an encoder; Close
// frees it once. In-band FEC is on exactly when the loss the receivers
// report is at least 1 %, and the encoder is told that loss rate; DTX is
// always allowed (silence costs a packet every 400 ms, not 50 a second).

import (
	"errors"
	"fmt"

	"github.com/pion/mediadevices/pkg/wave"

	"github.com/videochat/videochat/capture/opus"
)

type opusEncoder struct {
	enc *opus.Encoder
	out []byte
}

func newOpus(channels, bitrate int) (*opusEncoder, error) {
	enc, err := opus.NewEncoder(opus.EncoderConfig{Channels: channels, Bitrate: bitrate, DTX: true})
	if err != nil {
		return nil, err
	}
	return &opusEncoder{enc: enc, out: make([]byte, 1500)}, nil
}

// setLoss tells the encoder the fraction of packets the receivers lose:
// in-band FEC is on from 1 %.
func (e *opusEncoder) setLoss(loss float64) error {
	return e.enc.SetLoss(int(loss*100 + 0.5))
}

// settings reads back in-band FEC, the planned loss percentage and DTX.
func (e *opusEncoder) settings() (fec bool, lossPerc int, dtx bool) {
	return e.enc.Settings()
}

// Encode compresses one 20 ms chunk. The result is valid until the next
// call; a result of 2 bytes or less is a DTX frame, not to be sent.
func (e *opusEncoder) Encode(chunk wave.Audio) ([]byte, error) {
	info := chunk.ChunkInfo()
	if info.Len != audioFrameTicks || info.Channels != e.enc.Channels() {
		return nil, fmt.Errorf("opus: chunk of %d samples x %d channels, want %d x %d", info.Len, info.Channels, audioFrameTicks, e.enc.Channels())
	}
	var n int
	var err error
	switch b := chunk.(type) {
	case *wave.Int16Interleaved:
		n, err = e.enc.EncodeInt16(b.Data[:info.Len*info.Channels], e.out)
	case *wave.Float32Interleaved:
		n, err = e.enc.EncodeFloat32(b.Data[:info.Len*info.Channels], e.out)
	default:
		return nil, errors.New("opus: unsupported sample format")
	}
	if err != nil {
		return nil, err
	}
	return e.out[:n], nil
}

// Close frees the encoder.
func (e *opusEncoder) Close() error {
	e.enc.Close()
	return nil
}
