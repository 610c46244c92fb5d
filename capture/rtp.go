package capture

import (
	"math/rand/v2"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// rtpMTU is the largest RTP packet written, header included (pion's own
// outbound MTU).
const rtpMTU = 1200

// rtpHeaderSize is the size of an RTP header without CSRCs or extensions.
const rtpHeaderSize = 12

// rtpOut packetizes the frames of one codec of a track and writes them to
// every binding of that codec. It is owned by the pipeline goroutine.
type rtpOut struct {
	payloader rtp.Payloader
	seq       uint16
	tsBase    uint32 // random initial timestamp, as RFC 3550 asks
}

func newRTPOut(key codecKey) *rtpOut {
	var p rtp.Payloader
	switch key {
	case keyVP8:
		p = &codecs.VP8Payloader{EnablePictureID: true}
	case keyH264:
		p = &codecs.H264Payloader{}
	default:
		p = &codecs.OpusPayloader{}
	}
	return &rtpOut{payloader: p, seq: uint16(rand.Uint32()), tsBase: rand.Uint32()}
}

// send packetizes one frame with RTP timestamp ts (in the codec's clock,
// before the random base is added), captured at captured (captured.go),
// and writes it to every binding. It
// returns the number of packets per binding. A binding that fails to write
// (a closing PeerConnection) does not stop the others.
func (o *rtpOut) send(bs []binding, frame []byte, ts uint32, captured time.Time) int {
	for _, b := range bs {
		noteCapture(b, o.tsBase+ts, captured)
	}
	payloads := o.payloader.Payload(rtpMTU-rtpHeaderSize, frame)
	for i, pl := range payloads {
		hdr := rtp.Header{
			Version:        2,
			Marker:         i == len(payloads)-1,
			SequenceNumber: o.seq,
			Timestamp:      o.tsBase + ts,
		}
		o.seq++
		for _, b := range bs {
			h := hdr // interceptors may add extensions to the header they get
			h.SSRC = uint32(b.ssrc)
			h.PayloadType = uint8(b.pt)
			_, _ = b.write.WriteRTP(&h, pl)
		}
	}
	return len(payloads)
}
