package peer

import (
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Muting without renegotiation or rebinding. Each of our tracks is added to
// a connection through a gate: a TrackLocal that binds the real track with
// a writer that, while its kind is muted (SetMic, SetCamera), drops the
// packets, and afterwards lowers the sequence numbers by the number
// dropped, so the receiver sees a continuous stream (no loss, no NACKs)
// with a pause in its timestamps. The real track keeps running: capture
// pipelines are not restarted, and other connections are not affected.

//
// The gate also closes for one connection whose remote does not receive
// the kind: pion sends on every negotiated sender whatever the remote
// description's direction, so each time signalling becomes stable
// (followDirections) a sender whose media section the remote marks
// sendonly, inactive or rejected keeps its gate shut (a WHIP publisher's
// participant only sends).

// gate returns t behind the mute gate of its kind, with a gate of its own
// for this connection's direction.
func (p *Peer) gate(t webrtc.TrackLocal) webrtc.TrackLocal {
	off := &p.feat.micOff
	if t.Kind() == webrtc.RTPCodecTypeVideo {
		off = &p.feat.camOff
	}
	return gatedTrack{TrackLocal: p.cfg.Links.ClockTrack(t), off: off, unwanted: &atomic.Bool{}} // capture times: senderreport.go
}

type gatedTrack struct {
	webrtc.TrackLocal
	off      *atomic.Bool // the kind is muted
	unwanted *atomic.Bool // this connection's remote does not receive it
}

// Bind binds the real track with a gated writer. Unbind passes through:
// the binding keeps pion's id.
func (g gatedTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	return g.TrackLocal.Bind(gatedContext{TrackLocalContext: ctx, w: &gateWriter{w: ctx.WriteStream(), off: g.off, unwanted: g.unwanted}})
}

// followDirections shuts the gate of each of pc's senders whose media
// section the remote's current description marks as not receiving, and
// opens the others.
func followDirections(pc *webrtc.PeerConnection) {
	desc := pc.CurrentRemoteDescription()
	if desc == nil {
		return
	}
	// Parse our own copy: desc.Unmarshal would rewrite the parsed form
	// that pion's own goroutines read (a track then never starts).
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(desc.SDP); err != nil {
		return
	}
	receives := map[string]bool{} // by mid
	for _, m := range parsed.MediaDescriptions {
		mid, _ := m.Attribute("mid")
		_, sendonly := m.Attribute("sendonly")
		_, inactive := m.Attribute("inactive")
		receives[mid] = m.MediaName.Port.Value != 0 && !sendonly && !inactive
	}
	for _, tr := range pc.GetTransceivers() {
		s := tr.Sender()
		if s == nil {
			continue
		}
		if g, ok := s.Track().(gatedTrack); ok {
			r, known := receives[tr.Mid()]
			g.unwanted.Store(known && !r)

		}
	}
}

type gatedContext struct {
	webrtc.TrackLocalContext
	w *gateWriter
}

func (c gatedContext) WriteStream() webrtc.TrackLocalWriter { return c.w }

// gateWriter drops packets while off and renumbers the ones after.
type gateWriter struct {
	w        webrtc.TrackLocalWriter
	off      *atomic.Bool
	unwanted *atomic.Bool
	mu       sync.Mutex
	dropped  uint16
}

// shift returns how much to lower sequence numbers, or false to drop.
func (g *gateWriter) shift() (uint16, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.off.Load() || g.unwanted.Load() {
		g.dropped++
		return 0, false
	}
	return g.dropped, true
}

func (g *gateWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	d, ok := g.shift()
	if !ok {
		return len(payload), nil
	}
	if d == 0 {
		return g.w.WriteRTP(h, payload)
	}
	hh := *h // the header may be shared with other connections
	hh.SequenceNumber -= d
	return g.w.WriteRTP(&hh, payload)
}

func (g *gateWriter) Write(b []byte) (int, error) {
	d, ok := g.shift()
	if !ok {
		return len(b), nil
	}
	if d == 0 {
		return g.w.Write(b)
	}
	var pkt rtp.Packet
	if err := pkt.Unmarshal(b); err != nil {
		return 0, err
	}
	pkt.SequenceNumber -= d
	out, err := pkt.Marshal()
	if err != nil {
		return 0, err
	}
	if _, err := g.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}
