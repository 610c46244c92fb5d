package playback

// Opus for playback: libopus comes from capture/opus (the one binding);
// here are the sample rate, a mono encoder with in-band FEC for tests and
// benchmarks, and the pure-Go packet check done before a packet is stored.
// A stream's decoder is used under the stream's lock.

import (
	"errors"
	"fmt"

	"github.com/videochat/videochat/capture/opus"
)

// Rate is the sample rate of everything playback decodes, mixes and plays.
const Rate = opus.Rate

// Encoder is a libopus VoIP encoder, mono at Rate, with in-band FEC: what
// tests and benchmarks use to make real Opus packets.
type Encoder struct{ *opus.Encoder }

// NewEncoder returns an encoder at bitrate bits/s whose packets carry
// in-band FEC tuned for lossPercent expected loss.
func NewEncoder(bitrate, lossPercent int) (*Encoder, error) {
	e, err := opus.NewEncoder(opus.EncoderConfig{Channels: 1, Bitrate: bitrate, LossPercent: lossPercent})
	if err != nil {
		return nil, err
	}
	return &Encoder{e}, nil
}

// Encode encodes one frame (2.5–60 ms of mono samples) into a new packet.
func (e *Encoder) Encode(pcm []int16) ([]byte, error) {
	out := make([]byte, 1500)
	n, err := e.EncodeInt16(pcm, out)
	if err != nil {
		return nil, err
	}
	return out[:n], nil
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
