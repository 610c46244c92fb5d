package whip

// The WHIP forwarding path, per publisher track (one per simulcast layer):
//
//	TrackRemote.Read ──▶ unmarshal (buffer and packet reused) ──▶ ingestTrack.write ──▶ room track
//
// write runs on the track's reader goroutine and is synchronous down to
// the sockets (TrackLocalStaticRTP writes every binding in turn), so one
// buffer per reader suffices: nothing keeps the packet after write
// returns (the NACK responder copies what it keeps).
//
// Simulcast (a publisher that offers several rids in a section): every
// layer is received, one is forwarded to the whole room. The choice:
//   - without simulcast the only layer, from its first packet;
//   - with simulcast, after ChooseWindow, the layer with the highest
//     bitrate (the top layer, unless the publisher has paused it);
//   - later, a layer that carries 1.5× the current one's bitrate, or any
//     active layer when the current one has sent nothing for LayerTimeout
//     (the publisher paused it), takes over at its next key frame (asked
//     for with a PLI; after KeyFrameWait without one it takes over anyway).
//     Sequence numbers and timestamps are rewritten to continue the
//     stream the receivers already have.
// Receivers all get the same layer: per-receiver layers would need a room
// track per layer and receiver, which package peer does not offer.
//
// Packets whose payload type is not the one negotiated (a publisher that
// changes codec without renegotiating, which WHIP cannot do) are dropped
// and counted, never forwarded as the wrong codec.

import (
	"errors"
	"strings"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Simulcast layer choice timing.
const (
	ChooseWindow = time.Second            // bitrates measured before the first choice
	LayerTimeout = time.Second            // a layer silent this long is paused
	KeyFrameWait = 2 * time.Second        // longest wait for a new layer's key frame
	switchGap    = 3 * time.Second        // no upgrade sooner than this after a switch
	rateWindow   = 500 * time.Millisecond // bitrate measurement window
	upgradeRatio = 1.5
	readBuf      = 1500
)

// layer is one publisher stream feeding an ingestTrack.
type layer struct {
	rid  string
	ssrc uint32

	// Guarded by the ingestTrack's mu.
	last        time.Time // last packet
	winStart    time.Time
	winBytes    int
	rate        float64 // bits/s over the last full window
	dropped     uint64  // packets with a payload type not negotiated
	warnedCodec bool
}

// active reports whether the layer sent a packet within LayerTimeout.
func (l *layer) active(now time.Time) bool { return now.Sub(l.last) < LayerTimeout }

// count adds one packet of n bytes to the layer's bitrate measurement.
func (l *layer) count(now time.Time, n int) {
	if l.winStart.IsZero() || now.Sub(l.last) > rateWindow {
		// First packet, or the layer resumes after a pause: measure afresh.
		l.winStart, l.winBytes, l.rate = now, 0, 0
	}
	l.last = now
	l.winBytes += n
	if d := now.Sub(l.winStart); d >= rateWindow {
		l.rate = float64(l.winBytes) * 8 / d.Seconds()
		l.winStart, l.winBytes = now, 0
	}
}

// read forwards one publisher track into it until the track ends.
func (it *ingestTrack) read(t *webrtc.TrackRemote, l *layer) {
	buf := make([]byte, readBuf)
	var pkt rtp.Packet
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			if errors.Is(err, webrtc.ErrCodecNotFound) {
				it.dropCodec(l, -1) // a payload type never negotiated
				continue
			}
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		if pkt.PayloadType != it.pt {
			it.dropCodec(l, int(pkt.PayloadType))
			continue
		}
		// Header extension ids are the publisher's negotiation, not the
		// room's; the room's PeerConnections add their own.
		pkt.Header.Extension = false
		pkt.Header.Extensions = pkt.Header.Extensions[:0]
		it.write(l, &pkt, n)
	}
}

// write forwards pkt if l is the chosen layer, after updating the layer
// statistics and the choice.
func (it *ingestTrack) write(l *layer, pkt *rtp.Packet, size int) {
	now := time.Now()
	it.mu.Lock()
	defer it.mu.Unlock()
	l.count(now, size)
	if it.single {
		if it.cur == nil {
			it.cur = l
		}
	} else {
		it.choose(now, l, pkt)
	}
	if l != it.cur {
		return
	}
	pkt.SequenceNumber += it.seqOff
	pkt.Timestamp += it.tsOff
	it.lastSeq, it.lastTS, it.lastAt, it.sent = pkt.SequenceNumber, pkt.Timestamp, now, true
	_ = it.TrackLocalStaticRTP.WriteRTP(pkt)
}

// choose updates the simulcast layer choice on a packet of l. mu is held.
func (it *ingestTrack) choose(now time.Time, l *layer, pkt *rtp.Packet) {
	if it.first.IsZero() {
		it.first = now
	}
	if it.pending == nil && it.cur == nil && now.Sub(it.first) >= ChooseWindow {
		it.want(now, it.best(now, nil))
	}
	if it.pending == nil && it.cur != nil && l != it.cur {
		switch {
		case !it.cur.active(now):
			it.want(now, it.best(now, it.cur))
		case now.Sub(it.switched) >= switchGap && l.active(now) && l.rate > it.cur.rate*upgradeRatio && it.cur.rate > 0:
			it.want(now, l)
		}
	}
	if it.pending == l && (isKeyFrameStart(it.mime, pkt.Payload) || now.Sub(it.asked) >= KeyFrameWait) {
		it.take(now, l, pkt)
	}
}

// best returns the active layer with the highest bitrate, other than not.
func (it *ingestTrack) best(now time.Time, not *layer) *layer {
	var b *layer
	for _, l := range it.layers {
		if l == not || !l.active(now) {
			continue
		}
		if b == nil || l.rate > b.rate {
			b = l
		}
	}
	return b
}

// want makes l the layer to switch to at its next key frame, and asks the
// publisher for one. mu is held.
func (it *ingestTrack) want(now time.Time, l *layer) {
	if l == nil || l == it.cur {
		return
	}
	it.pending, it.asked = l, now
	it.s.log.Debug("simulcast layer wanted", "rid", l.rid, "bps", int(l.rate))
	// Not rate-limited: switches are rare, and the new layer is useless
	// to the receivers until its key frame.
	_ = it.s.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: l.ssrc}})
}

// take makes l, whose packet pkt arrived now, the forwarded layer: its
// sequence numbers and timestamps continue those already sent. mu is held.
func (it *ingestTrack) take(now time.Time, l *layer, pkt *rtp.Packet) {
	if it.sent {
		it.seqOff = it.lastSeq + 1 - pkt.SequenceNumber
		gap := now.Sub(it.lastAt)
		it.tsOff = it.lastTS + uint32(gap.Seconds()*float64(it.Codec().ClockRate)) + 1 - pkt.Timestamp
	}
	if it.cur != nil {
		it.s.log.Info("simulcast layer switched", "from", it.cur.rid, "to", l.rid, "bps", int(l.rate))
	} else {
		it.s.log.Info("simulcast layer chosen", "rid", l.rid, "bps", int(l.rate), "layers", len(it.layers))
	}
	it.cur, it.pending, it.switched = l, nil, now
}

// dropCodec counts a packet of l with a payload type that was not
// negotiated (pt -1: unknown to the session), warning once per layer.
func (it *ingestTrack) dropCodec(l *layer, pt int) {
	it.mu.Lock()
	l.dropped++
	warn := !l.warnedCodec
	l.warnedCodec = true
	it.mu.Unlock()
	if warn {
		it.s.log.Warn("publisher sends a payload type that was not negotiated; dropping it (a codec change needs a new WHIP session)", "rid", l.rid, "pt", pt, "negotiated", it.pt)
	}
}

// isKeyFrameStart reports whether an RTP payload starts a key frame (VP8:
// start of partition 0 of a key frame; H.264: an IDR or SPS NAL unit, alone,
// aggregated or first fragment). Other codecs: false.
func isKeyFrameStart(mime string, p []byte) bool {
	switch {
	case len(p) == 0:
		return false
	case strings.EqualFold(mime, webrtc.MimeTypeVP8):
		return vp8KeyFrameStart(p)
	case strings.EqualFold(mime, webrtc.MimeTypeH264):
		return h264KeyFrameStart(p)
	}
	return false
}

func vp8KeyFrameStart(p []byte) bool {
	// RFC 7741 payload descriptor, then the VP8 payload header.
	if p[0]&0x10 == 0 || p[0]&0x07 != 0 { // S bit, partition 0
		return false
	}
	i := 1
	if p[0]&0x80 != 0 { // X
		if len(p) < 2 {
			return false
		}
		x := p[1]
		i = 2
		if x&0x80 != 0 { // I: picture id
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if x&0x40 != 0 { // L
			i++
		}
		if x&0x30 != 0 { // T or K
			i++
		}
	}
	return len(p) > i && p[i]&0x01 == 0 // P bit 0: key frame
}

func h264KeyFrameStart(p []byte) bool {
	const idr, sps, stapA, fuA = 5, 7, 24, 28
	switch p[0] & 0x1f {
	case idr, sps:
		return true
	case stapA:
		for i := 1; i+2 < len(p); {
			n := int(p[i])<<8 | int(p[i+1])
			if t := p[i+2] & 0x1f; t == idr || t == sps {
				return true
			}
			i += 2 + n
		}
	case fuA:
		return len(p) > 1 && p[1]&0x80 != 0 && p[1]&0x1f == idr
	}
	return false
}
