package capture

import (
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/openh264"
	"github.com/pion/mediadevices/pkg/prop"
)

// h264Params are the OpenH264 settings of the H.264 encoder.
type h264Params struct {
	Width, Height, FPS int
	Bitrate            int // bits/s
	// KeyFrameEvery is the IDR period in frames.
	KeyFrameEvery int
	// Threads is OpenH264's thread count (0 = automatic).
	Threads int
}

func defaultH264Params(w, h, fps, bitrate int) h264Params {
	return h264Params{Width: w, Height: h, FPS: fps, Bitrate: bitrate, KeyFrameEvery: liveKeyFrameSeconds * fps, Threads: 1}
}

// h264Encoder drives mediadevices' OpenH264 encoder (bundled static
// library) one frame at a time: the encoder pulls from a one-frame slot that
// Encode fills. Not safe for concurrent use.
type h264Encoder struct {
	enc  codec.ReadCloser
	kf   codec.KeyFrameController
	br   codec.BitRateController
	slot frameSlot
	p    h264Params
}

// frameSlot is a video.Reader that returns the frame put in it.
type frameSlot struct{ img image.Image }

func (s *frameSlot) Read() (image.Image, func(), error) {
	if s.img == nil {
		return nil, func() {}, errors.New("no frame")
	}
	return s.img, func() {}, nil
}

func newH264Encoder(p h264Params) (*h264Encoder, error) {
	params, err := openh264.NewParams()
	if err != nil {
		return nil, err
	}
	params.BitRate = p.Bitrate
	params.IntraPeriod = uint(max(p.KeyFrameEvery, 1))
	params.MultipleThreadIdc = p.Threads
	params.RCMode = openh264.RCBitrateMode
	params.EnableFrameSkip = true
	e := &h264Encoder{p: p}
	enc, err := params.BuildVideoEncoder(&e.slot, prop.Media{Video: prop.Video{Width: p.Width, Height: p.Height, FrameRate: float32(p.FPS)}})
	if err != nil {
		return nil, fmt.Errorf("h264: encoder init %dx%d: %w", p.Width, p.Height, err)
	}
	e.enc = enc
	e.kf, _ = enc.Controller().(codec.KeyFrameController)
	e.br, _ = enc.Controller().(codec.BitRateController)
	return e, nil
}

// Encode compresses img (I420, the encoder's size) into Annex-B NAL units.
// The frame may be skipped by the rate control (empty result).
func (e *h264Encoder) Encode(img *image.YCbCr, _ time.Duration, forceKey bool) ([]byte, bool, error) {
	if img.Rect.Dx() != e.p.Width || img.Rect.Dy() != e.p.Height {
		return nil, false, fmt.Errorf("h264: frame %dx%d, encoder %dx%d", img.Rect.Dx(), img.Rect.Dy(), e.p.Width, e.p.Height)
	}
	if forceKey && e.kf != nil {
		_ = e.kf.ForceKeyFrame()
	}
	e.slot.img = img
	data, release, err := e.enc.Read()
	e.slot.img = nil
	if err != nil {
		return nil, false, fmt.Errorf("h264: encode: %w", err)
	}
	release()
	return data, h264HasIDR(data), nil
}

// SetBitrate changes the target bitrate in bits/s.
func (e *h264Encoder) SetBitrate(bps int) error {
	if e.br == nil {
		return errors.New("h264: bitrate control unsupported")
	}
	e.p.Bitrate = bps
	return e.br.SetBitRate(bps)
}

// Close frees the encoder.
func (e *h264Encoder) Close() error { return e.enc.Close() }

// h264HasIDR reports whether an Annex-B access unit contains an IDR slice.
func h264HasIDR(b []byte) bool {
	for i := 0; i+3 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if b[i+3]&0x1f == 5 {
				return true
			}
			i += 2
		}
	}
	return false
}
