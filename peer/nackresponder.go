package peer

// nackresponder.go: answers the remote's NACKs with retransmissions (RTX
// when negotiated, else the packet again).
//
// It replaces pion's responder, which ignores a NACK for a packet resent
// less than RTT + 5 ms ago (an average of every RTT seen). A browser
// receiver asks again about one RTT after its previous NACK, so when the
// first retransmission was lost the second NACK often falls inside that
// interval, and the packet only comes a round trip later: at 5 % loss each
// way that is a frozen frame every few seconds. This responder resends on
// every NACK, except for a packet resent within minResendGap (duplicate
// NACKs of one loss in one burst).
//
// On a link that loses packets at random (a radio, a lossy relay: the
// estimator's steadyLoss, a usual loss of 1 % or more, no queue, no loss
// above the usual), each retransmission goes out twice, as two RTX
// packets. At 5 % loss each way about one lost packet in ten needed a
// second NACK round (the NACK or the RTX lost) and one in a hundred a
// third, ≈ 200 ms for the frame: a freeze. The second copy halves the
// rounds lost to a lost RTX, for about 5 % more bytes at 5 % loss. Loss
// from a full queue shows as a standing queue or as loss above the usual,
// so behind a congested bottleneck every packet is resent once, as
// before; both copies are paid from the resend budget.
//
// Invariants:
//   - One history per local media stream: the last historySize packets,
//     indexed by sequence number; a NACK for anything older is ignored.
//   - Retransmissions go out through the stream's writer below this
//     interceptor (TWCC sequence numbers, link counters, the pacer, which
//     sends them before queued video).
//   - A connection resends at most its video estimate's worth of bytes per
//     second (resendWindow), so NACKs cannot make it send more than the
//     link carries, whatever a remote asks; and what it resends comes off
//     the encoder's target (Links.Target, up to half of it), so video and
//     retransmissions together stay near the estimate.
//   - The same history answers TWCC feedback that shows a packet lost
//     with its NACK (twccresend.go); a NACK within feedbackGuard of such a
//     resend is not answered again.
//   - No goroutine: NACKs are answered on the RTCP reader's goroutine.

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

const (
	historySize  = 1024
	minResendGap = 10 * time.Millisecond
	resendWindow = time.Second
	// minResendBudget is the resend budget (bits/s) when the link has no
	// estimate yet. With one, the budget is the video's share of it, also
	// under this (the floor let 300 kbit/s of resends into a link
	// estimated at 150 kbit/s).
	minResendBudget = 300_000
)

// nackResponderFactory builds one responder per PeerConnection.
type nackResponderFactory struct{ ls *Links }

func (f nackResponderFactory) NewInterceptor(id string) (interceptor.Interceptor, error) {
	return &nackResponder{ls: f.ls, streams: map[uint32]*sentHistory{}, redundant: f.ls.SteadyLoss,
		sent: func() *sendLog { return f.ls.sendLog(id) }, l: f.ls.link(id)}, nil
}

type nackResponder struct {
	interceptor.NoOp
	ls *Links
	// redundant reports whether retransmissions of the stream ssrc go out
	// twice (Links.SteadyLoss).
	redundant func(ssrc uint32) bool
	// sent returns the connection's record of what each transport-wide
	// sequence number carried (the pacer's; nil until built), for
	// resending from TWCC feedback (twccresend.go).
	sent func() *sendLog
	l    *link // counts the resends from feedback; nil: not counted

	mu      sync.Mutex
	streams map[uint32]*sentHistory // by media SSRC

	budgetMu    sync.Mutex
	windowStart time.Time
	windowBytes int
}

// sentHistory is one stream's recent packets.
type sentHistory struct {
	ssrc, rtxSSRC uint32
	rtxPT         uint8
	writer        interceptor.RTPWriter

	mu     sync.Mutex
	pkts   [historySize]sentPacket
	rtxSeq uint16
}

type sentPacket struct {
	valid    bool
	h        rtp.Header
	payload  []byte
	resentAt time.Time
	// acked: TWCC feedback reported a copy received; fromFeedback: when
	// it was last resent from feedback (twccresend.go).
	acked        bool
	fromFeedback time.Time
}

func (n *nackResponder) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	if !supportsNack(info) {
		return writer
	}
	hs := &sentHistory{ssrc: info.SSRC, rtxSSRC: info.SSRCRetransmission, rtxPT: info.PayloadTypeRetransmission,
		writer: writer, rtxSeq: uint16(time.Now().UnixNano())}
	n.mu.Lock()
	n.streams[info.SSRC] = hs
	n.mu.Unlock()
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if h.SSRC == info.SSRC {
			hs.add(h, payload)
		}
		return writer.Write(h, payload, a)
	})
}

func supportsNack(info *interceptor.StreamInfo) bool {
	for _, fb := range info.RTCPFeedback {
		if fb.Type == "nack" && fb.Parameter == "" {
			return true
		}
	}
	return false
}

func (n *nackResponder) UnbindLocalStream(info *interceptor.StreamInfo) {
	n.mu.Lock()
	delete(n.streams, info.SSRC)
	n.mu.Unlock()
}

func (hs *sentHistory) add(h *rtp.Header, payload []byte) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	p := &hs.pkts[h.SequenceNumber%historySize]
	p.valid = true
	p.h = h.Clone()
	p.payload = append(p.payload[:0], payload...)
	p.resentAt, p.acked, p.fromFeedback = time.Time{}, false, time.Time{}
}

func (n *nackResponder) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		i, attr, err := reader.Read(b, a)
		if err != nil {
			return i, attr, err
		}
		if attr == nil {
			attr = interceptor.Attributes{}
		}
		pkts, perr := attr.GetRTCPPackets(b[:i])
		if perr != nil {
			return i, attr, nil
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.TransportLayerNack:
				n.answer(p, time.Now())
			case *rtcp.TransportLayerCC:
				n.resendFromFeedback(p, time.Now())
			}
		}
		return i, attr, nil
	})
}

// answer resends what nack asks for, within the connection's budget.
func (n *nackResponder) answer(nack *rtcp.TransportLayerNack, now time.Time) {
	n.mu.Lock()
	hs := n.streams[nack.MediaSSRC]
	n.mu.Unlock()
	if hs == nil {
		return
	}
	copies := 1
	if n.redundant != nil && hs.rtxSSRC != 0 && hs.rtxPT != 0 && n.redundant(hs.ssrc) {
		copies = 2
	}
	for _, pair := range nack.Nacks {
		for _, seq := range pair.PacketList() {
			h, payload, ok := hs.take(seq, now)
			if !ok {
				continue
			}
			for c := range copies {
				if !n.spend(hs.ssrc, len(payload)+h.MarshalSize(), now) {
					return
				}
				hc := h
				if c > 0 { // the writers below may keep the header: a copy of its own
					hc = h.Clone()
					hc.SequenceNumber = hs.nextRTXSeq()
				}
				_, _ = hs.writer.Write(&hc, payload, nil)
			}
		}
	}
}

// nextRTXSeq returns the next sequence number of the RTX stream.
func (hs *sentHistory) nextRTXSeq() uint16 {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.rtxSeq++
	return hs.rtxSeq - 1
}

// take returns the retransmission of seq (RTX when negotiated), or false
// when it is not in the history, was resent within minResendGap, or was
// resent from TWCC feedback within feedbackGuard (twccresend.go).
func (hs *sentHistory) take(seq uint16, now time.Time) (rtp.Header, []byte, bool) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	p := &hs.pkts[seq%historySize]
	if !p.valid || p.h.SequenceNumber != seq || (!p.resentAt.IsZero() && now.Sub(p.resentAt) < minResendGap) ||
		(!p.fromFeedback.IsZero() && now.Sub(p.fromFeedback) < feedbackGuard) {
		return rtp.Header{}, nil, false
	}
	h, payload := hs.resend(p, seq, now)
	return h, payload, true
}

// resend returns the retransmission of p (seq), resent now. Callers hold
// hs.mu.
func (hs *sentHistory) resend(p *sentPacket, seq uint16, now time.Time) (rtp.Header, []byte) {
	p.resentAt = now
	h := p.h.Clone()
	if hs.rtxSSRC == 0 || hs.rtxPT == 0 {
		return h, append([]byte(nil), p.payload...)
	}
	// RFC 4588: the RTX payload is the original sequence number, then the
	// original payload.
	out := make([]byte, 2+len(p.payload))
	binary.BigEndian.PutUint16(out, seq)
	copy(out[2:], p.payload)
	h.SSRC, h.PayloadType, h.SequenceNumber = hs.rtxSSRC, hs.rtxPT, hs.rtxSeq
	h.Padding, h.PaddingSize = false, 0
	hs.rtxSeq++
	return h, out
}

// spend takes size bytes from the connection's resend budget.
func (n *nackResponder) spend(ssrc uint32, size int, now time.Time) bool {
	budget := minResendBudget
	if t, ok := n.ls.videoShare(ssrc); ok {
		budget = t
	}
	n.budgetMu.Lock()
	defer n.budgetMu.Unlock()
	if now.Sub(n.windowStart) >= resendWindow {
		n.windowStart, n.windowBytes = now, 0
	}
	if (n.windowBytes+size)*8 > budget*int(resendWindow/time.Second) {
		return false
	}
	n.windowBytes += size
	return true
}
