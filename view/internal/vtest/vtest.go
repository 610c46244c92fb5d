// Package vtest makes real encoded video and RTP for the view's tests:
// pictures of known colours, encoded with libvpx (VP8) or OpenH264 (H.264)
// through mediadevices, and packetized with pion's payloaders.
package vtest

import (
	"errors"
	"image"
	"testing"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/openh264"
	"github.com/pion/mediadevices/pkg/codec/vpx"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// Solid returns a w×h I420 picture of one colour.
func Solid(w, h int, y, cb, cr byte) *image.YCbCr {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = y
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = cb, cr
	}
	return img
}

// slot is the one-frame source the encoders pull from.
type slot struct{ img image.Image }

func (s *slot) Read() (image.Image, func(), error) {
	if s.img == nil {
		return nil, nil, errors.New("vtest: no frame")
	}
	return s.img, func() {}, nil
}

// Encoder encodes pictures of one size.
type Encoder struct {
	Mime string
	enc  codec.ReadCloser
	kf   codec.KeyFrameController
	in   slot
}

// NewEncoder returns an encoder ("video/VP8" or "video/H264") closed with tb.
func NewEncoder(tb testing.TB, mime string, w, h int) *Encoder {
	tb.Helper()
	e := &Encoder{Mime: mime}
	p := prop.Media{Video: prop.Video{Width: w, Height: h, FrameRate: 30}}
	var err error
	switch mime {
	case "video/VP8":
		var vp vpx.VP8Params
		if vp, err = vpx.NewVP8Params(); err == nil {
			vp.BitRate = 2_000_000
			vp.KeyFrameInterval = 1000
			e.enc, err = vp.BuildVideoEncoder(&e.in, p)
		}
	case "video/H264":
		var hp openh264.Params
		if hp, err = openh264.NewParams(); err == nil {
			hp.BitRate = 2_000_000
			hp.IntraPeriod = 1000
			e.enc, err = hp.BuildVideoEncoder(&e.in, p)
		}
	default:
		tb.Fatalf("vtest: no encoder for %s", mime)
	}
	if err != nil {
		tb.Fatalf("vtest: %s encoder %dx%d: %v", mime, w, h, err)
	}
	e.kf, _ = e.enc.Controller().(codec.KeyFrameController)
	tb.Cleanup(func() { _ = e.enc.Close() })
	return e
}

// Encode encodes img; key forces a key frame.
func (e *Encoder) Encode(tb testing.TB, img image.Image, key bool) []byte {
	tb.Helper()
	if key && e.kf != nil {
		_ = e.kf.ForceKeyFrame()
	}
	e.in.img = img
	b, release, err := e.enc.Read()
	e.in.img = nil
	if err != nil {
		tb.Fatalf("vtest: encode: %v", err)
	}
	out := append([]byte(nil), b...)
	release()
	return out
}

// Packetizer splits frames into RTP packets of one stream.
type Packetizer struct {
	PT   uint8
	SSRC uint32
	Seq  uint16
	TS   uint32
	pay  rtp.Payloader
}

// NewPacketizer returns a packetizer for mime with payload type pt.
func NewPacketizer(mime string, pt uint8) *Packetizer {
	p := &Packetizer{PT: pt, SSRC: 0x1234, Seq: 1000, TS: 90000}
	p.SetCodec(mime, pt)
	return p
}

// SetCodec switches codec and payload type (same stream, same sequence).
func (p *Packetizer) SetCodec(mime string, pt uint8) {
	p.PT = pt
	if mime == "video/H264" {
		p.pay = &codecs.H264Payloader{}
	} else {
		p.pay = &codecs.VP8Payloader{EnablePictureID: true}
	}
}

// Packets returns frame's packets at the current timestamp and then
// advances the timestamp by one frame at 30 fps.
func (p *Packetizer) Packets(frame []byte) []*rtp.Packet {
	payloads := p.pay.Payload(1200, frame)
	out := make([]*rtp.Packet, len(payloads))
	for i, pl := range payloads {
		out[i] = &rtp.Packet{Header: rtp.Header{
			Version: 2, PayloadType: p.PT, SequenceNumber: p.Seq, Timestamp: p.TS, SSRC: p.SSRC,
			Marker: i == len(payloads)-1,
		}, Payload: pl}
		p.Seq++
	}
	p.TS += 3000
	return out
}
