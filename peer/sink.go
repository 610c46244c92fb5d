package peer

// Remote media handed out to the caller.
//
// When Config.OnTrack is set, every remote track is offered to it once, as
// the track starts. The caller (cmd/ wires the players of playback/ and
// view/ here) returns a TrackSink or nil. Invariants:
//
//   - WriteRTP is called from the one goroutine that reads the track, in
//     arrival order; the packet is fresh for each call and belongs to the
//     sink from then on.
//   - SenderReport may run concurrently with WriteRTP (it comes from the
//     receiver's RTCP reader), but never concurrently with or after Close.
//   - Close is called exactly once, after the last WriteRTP, when the track
//     ends (the remote stopped sending it, left, or the connection closed).
//   - Neither may block for long: a slow sink stalls that track's reading
//     (and so its stats and recording), never another track's.

import (
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/signal/proto"
)

// RemoteTrack describes one remote track offered to Config.OnTrack.
type RemoteTrack struct {
	// Peer is the remote participant who sends the track.
	Peer proto.PeerInfo
	// Kind is webrtc.RTPCodecTypeAudio or webrtc.RTPCodecTypeVideo.
	Kind webrtc.RTPCodecType
	// Codec is the negotiated codec (MimeType, ClockRate, Channels, fmtp).
	Codec webrtc.RTPCodecParameters
	// Codecs are all the codecs negotiated for the stream: the remote may
	// switch to another of them mid-stream (packets then carry its payload
	// type).
	Codecs []webrtc.RTPCodecParameters
	// SSRC of the stream and the track's ids as the remote declared them.
	SSRC              uint32
	TrackID, StreamID string
	// RequestKeyFrame sends the remote a PLI for this stream (video only;
	// a no-op for audio). Safe from any goroutine, also after the track ended.
	RequestKeyFrame func()
}

// TrackSink consumes one remote track. See the file comment for the
// calling rules.
type TrackSink interface {
	WriteRTP(pkt *rtp.Packet)
	// SenderReport gives the remote's wall clock (from RTCP sender
	// reports) at RTP timestamp rtpTS, for lip sync between tracks.
	SenderReport(ntp time.Time, rtpTS uint32)
	Close()
}

// guardedSink keeps SenderReport calls from racing Close.
type guardedSink struct {
	TrackSink
	mu     sync.Mutex
	closed bool
}

func (g *guardedSink) SenderReport(ntp time.Time, rtpTS uint32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.TrackSink.SenderReport(ntp, rtpTS)
	}
}

func (g *guardedSink) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.closed = true
		g.TrackSink.Close()
	}
}

// openSink offers t to Config.OnTrack and, when the caller takes it,
// starts forwarding the receiver's sender reports to the sink.
func (r *remote) openSink(t *webrtc.TrackRemote, recv *webrtc.RTPReceiver) *guardedSink {
	if r.p.cfg.OnTrack == nil {
		return nil
	}
	rt := RemoteTrack{
		Peer:            r.info,
		Kind:            t.Kind(),
		Codec:           t.Codec(),
		Codecs:          recv.GetParameters().Codecs,
		SSRC:            uint32(t.SSRC()),
		TrackID:         t.ID(),
		StreamID:        t.StreamID(),
		RequestKeyFrame: func() {},
	}
	if t.Kind() == webrtc.RTPCodecTypeVideo {
		ssrc := uint32(t.SSRC())
		rt.RequestKeyFrame = func() { r.sendPLI(ssrc) }
	}
	s := r.p.cfg.OnTrack(rt)
	if s == nil {
		return nil
	}
	g := &guardedSink{TrackSink: s}
	r.goMedia(func() { forwardSenderReports(recv, rt.SSRC, g) })
	return g
}

// forwardSenderReports reads the receiver's RTCP until it stops and passes
// the sender reports of ssrc to g.
func forwardSenderReports(recv *webrtc.RTPReceiver, ssrc uint32, g *guardedSink) {
	for {
		pkts, _, err := recv.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == ssrc {
				g.SenderReport(ntpTime(sr.NTPTime), sr.RTPTime)
			}
		}
	}
}

// ntpTime converts a 64-bit NTP timestamp (seconds since 1900 in the high
// 32 bits, fraction in the low 32) to a time.Time.
func ntpTime(v uint64) time.Time {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	secs := int64(v>>32) - ntpEpochOffset
	frac := (v & 0xffffffff) * 1e9 >> 32
	return time.Unix(secs, int64(frac))
}
