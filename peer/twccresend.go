package peer

// twccresend.go: retransmission driven by the receiver's TWCC feedback,
// without waiting for its NACK.
//
// A lost packet is normally asked for with a NACK, and the NACK responder
// (nackresponder.go) resends it. When the NACK itself is lost, or the
// retransmission is, the receiver asks again only about one round trip
// after its previous NACK (Chromium: its RTT estimate), so the frame waits
// a second round: at 5 % loss each way and a 60 ms round trip that is
// ≈ 200 ms, just over the receiver's freeze threshold (max(3 × frame
// interval, interval + 150 ms): 183 ms at 30 fps). But the receiver also
// reports every packet, by transport-wide sequence number, in its TWCC
// feedback (every 50–100 ms), and that feedback travels on its own. The
// pacer numbers the transport-wide sequence as it sends (pacer.go), so it
// records here which media packet (SSRC, RTP sequence number) each number
// carried — the original or one of its RTX copies. When a feedback reports
// a number not received, the packet it carried is resent as RTX, once,
// unless something says that is not needed.
//
// Invariants:
//   - sendLog is a fixed ring of sendLogSize entries indexed by transport
//     sequence number (no growth); an entry whose number does not match
//     (overwritten) is unknown. Each entry is acted on at most once
//     (take); sentAt only reads it (the estimator's one-way delay and
//     received rate, estimator.go).
//   - A packet is resent for a lost number only if: the link loses at
//     random (the estimator's steadyLoss, the same test as the NACK
//     responder's second copy: behind a full bottleneck extra copies only
//     feed the queue, so no resend from feedback there); it is still in
//     the stream's RTX history (nackresponder.go's sentHistory, same
//     sequence number); the lost copy was sent at most maxFeedbackAge ago;
//     no copy of it was reported received (in this feedback or an earlier
//     one); and it was not resent (by a NACK or by this path) since the
//     lost copy was sent — that resend is already on its way.
//   - The resend is paid from the NACK responder's budget (the link's
//     estimate per second) and goes out through the same writer as a NACK
//     answer (TWCC number, pacer, link counters).
//   - A NACK for a packet resent from feedback less than feedbackGuard ago
//     is not answered again: it was sent before the receiver could see the
//     resend (the NACK of the same loss, or the re-NACK of a lost NACK);
//     if the resend is lost, the next feedback reports that and it is
//     resent again. A NACK after the guard is answered as always.
//   - Received-before-lost within one feedback: the received statuses are
//     applied first, so one lost copy of two does not cause a resend.
//   - No goroutine: the pacer records on its goroutine, feedback is handled
//     on the RTCP reader's, each under the ring's or the history's mutex.

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

const (
	// sendLogSize transport sequence numbers are remembered: at 1 Mbit/s
	// plus audio (≈ 150 packets/s) about 13 s, more than the feedback's
	// delay and than the RTX history's 1024 video packets.
	sendLogSize = 2048
	// maxFeedbackAge: a lost copy sent longer ago than this is not resent
	// from feedback (the feedback came very late; the receiver's NACKs
	// still get an answer).
	maxFeedbackAge = time.Second
	// feedbackGuard: a NACK this soon after a resend from feedback is not
	// answered again (see the file comment). Under the round trips where a
	// second round freezes a frame (≥ 50 ms) such a NACK left the receiver
	// before the resend could reach it.
	feedbackGuard = 50 * time.Millisecond
)

// sendLog remembers what each transport-wide sequence number carried.
type sendLog struct {
	mu   sync.Mutex
	ents [sendLogSize]sendLogEntry
}

type sendLogEntry struct {
	valid bool
	done  bool // acted on (resent, or found received)
	twseq uint16
	media uint32 // the media SSRC (also for an RTX copy)
	seq   uint16 // the media packet's RTP sequence number
	size  int    // bytes on the wire (header and payload)
	sent  time.Time
	class sendClass
}

// sendClass is what kind of packet a transport number carried, for the
// debug log's split of what the pacer let out (sentRates).
type sendClass uint8

const (
	classVideo sendClass = iota
	classRTX
	classAudio
)

// record notes that transport number twseq carried the packet seq of the
// media stream media, size bytes, sent now (the pacer's goroutine).
func (l *sendLog) record(twseq uint16, media uint32, seq uint16, size int, now time.Time) {
	l.recordClass(twseq, media, seq, size, now, classVideo)
}

// recordClass is record with the packet's kind (the pacer's goroutine).
func (l *sendLog) recordClass(twseq uint16, media uint32, seq uint16, size int, now time.Time, c sendClass) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ents[twseq%sendLogSize] = sendLogEntry{valid: true, twseq: twseq, media: media, seq: seq, size: size, sent: now, class: c}
}

// take returns what twseq carried, once: false when unknown (overwritten,
// never sent, not media) or already taken.
func (l *sendLog) take(twseq uint16) (sendLogEntry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := &l.ents[twseq%sendLogSize]
	if !e.valid || e.done || e.twseq != twseq {
		return sendLogEntry{}, false
	}
	e.done = true
	return *e, true
}

// sentAt returns when twseq was sent and its size, false when unknown
// (overwritten or never sent); unlike take it may be asked any number of
// times.
func (l *sendLog) sentAt(twseq uint16) (time.Time, int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := &l.ents[twseq%sendLogSize]
	if !e.valid || e.twseq != twseq {
		return time.Time{}, 0, false
	}
	return e.sent, e.size, true
}

// sentRate returns the bits/s sent over the last span before now (every
// transport number remembered, audio and retransmissions included): what
// the pacer really let out, for the debug log.
func (l *sendLog) sentRate(now time.Time, span time.Duration) int {
	r := l.sentRates(now, span)
	return r[classVideo] + r[classRTX] + r[classAudio]
}

// sentRates is sentRate split by kind: video, retransmissions, audio.
func (l *sendLog) sentRates(now time.Time, span time.Duration) [3]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var bytes [3]int
	for i := range l.ents {
		if e := &l.ents[i]; e.valid && e.sent.After(now.Add(-span)) && !e.sent.After(now) {
			bytes[e.class] += e.size
		}
	}
	var r [3]int
	for c, b := range bytes {
		r[c] = int(float64(b*8) / span.Seconds())
	}
	return r
}

// twccArrivals calls f for each packet a TWCC feedback reports received,
// in order, with its arrival time on the receiver's clock (reference time
// plus the deltas; the clock's origin is the receiver's own).
func twccArrivals(fb *rtcp.TransportLayerCC, f func(twseq uint16, arrival time.Duration)) {
	at := time.Duration(fb.ReferenceTime) * 64 * time.Millisecond
	i := 0
	twccStatus(fb, func(twseq uint16, received bool) {
		if !received || i >= len(fb.RecvDeltas) {
			return
		}
		at += time.Duration(fb.RecvDeltas[i].Delta) * time.Microsecond
		i++
		f(twseq, at)
	})
}

// carried returns the media SSRC and RTP sequence number an outgoing
// packet carries: its own, or for an RTX packet (ssrc is not media) the
// original's, from the first two payload bytes (RFC 4588).
func carried(ssrc, media uint32, seq uint16, payload []byte) (uint32, uint16, bool) {
	if media == 0 || media == ssrc {
		return ssrc, seq, true
	}
	if len(payload) < 2 {
		return 0, 0, false // RTX padding: carries nothing
	}
	return media, binary.BigEndian.Uint16(payload), true
}

// twccStatus calls f for each packet a TWCC feedback reports, in order,
// with whether it was received.
func twccStatus(fb *rtcp.TransportLayerCC, f func(twseq uint16, received bool)) {
	left := int(fb.PacketStatusCount)
	seq := fb.BaseSequenceNumber
	add := func(sym uint16) {
		if left == 0 {
			return
		}
		left--
		f(seq, sym != rtcp.TypeTCCPacketNotReceived)
		seq++
	}
	for _, c := range fb.PacketChunks {
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			for range min(int(c.RunLength), left) {
				add(c.PacketStatusSymbol)
			}
		case *rtcp.StatusVectorChunk:
			for _, s := range c.SymbolList {
				add(s)
			}
		}
	}
}

// resendFromFeedback handles one TWCC feedback (see the file comment).
func (n *nackResponder) resendFromFeedback(fb *rtcp.TransportLayerCC, now time.Time) {
	if n.sent == nil {
		return
	}
	log := n.sent()
	if log == nil {
		return
	}
	var lost []sendLogEntry
	twccStatus(fb, func(twseq uint16, received bool) {
		e, ok := log.take(twseq)
		if !ok {
			return
		}
		if !received {
			lost = append(lost, e)
			return
		}
		if hs := n.stream(e.media); hs != nil {
			hs.received(e.seq)
		}
	})
	for _, e := range lost {
		if now.Sub(e.sent) > maxFeedbackAge {
			continue
		}
		hs := n.stream(e.media)
		if hs == nil || n.redundant == nil || !n.redundant(hs.ssrc) {
			continue
		}
		h, payload, ok := hs.takeLost(e.seq, e.sent, now)
		if !ok {
			continue
		}
		if !n.spend(hs.ssrc, len(payload)+h.MarshalSize(), now) {
			return
		}
		if n.l != nil {
			n.l.feedbackResends.Add(1)
		}
		_, _ = hs.writer.Write(&h, payload, nil)
	}
}

func (n *nackResponder) stream(media uint32) *sentHistory {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.streams[media]
}

// received marks seq as received by the remote (a feedback said so).
func (hs *sentHistory) received(seq uint16) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if p := &hs.pkts[seq%historySize]; p.valid && p.h.SequenceNumber == seq {
		p.acked = true
	}
}

// takeLost is take for a copy of seq sent at sent and reported lost: false
// also when a copy was reported received, or when seq was resent since
// (see the file comment).
func (hs *sentHistory) takeLost(seq uint16, sent, now time.Time) (rtp.Header, []byte, bool) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	p := &hs.pkts[seq%historySize]
	if !p.valid || p.h.SequenceNumber != seq || p.acked || !p.resentAt.Before(sent) {
		return rtp.Header{}, nil, false
	}
	p.fromFeedback = now
	h, payload := hs.resend(p, seq, now)
	return h, payload, true
}
