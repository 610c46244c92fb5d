package peer

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// feedbackPath is a sender's path as a call builds it — NACK responder,
// then a writer that adds the TWCC extension (as pion's header-extension
// interceptor does), then the pacer that numbers it — ending in a
// "network" that drops the packets the test names and feeds the rest to a
// receiver's TWCC recorder (pion's, as a receiver builds its feedback).
type feedbackPath struct {
	t      *testing.T
	n      *nackResponder
	p      *pacer
	media  interceptor.RTPWriter
	steady bool

	mu      sync.Mutex
	drop    map[[2]uint32]bool // {SSRC, RTP seq} to drop (RTX: {2, original seq})
	rec     *twcc.Recorder
	arrived []rtp.Packet // RTX packets that arrived
	sent    int          // packets through the pacer
	queued  int          // packets handed to the pacer
}

func newFeedbackPath(t *testing.T) *feedbackPath {
	f := &feedbackPath{t: t, p: newPacer(2_000_000, kinds{}), drop: map[[2]uint32]bool{}, rec: twcc.NewRecorder(7), steady: true}
	t.Cleanup(func() { _ = f.p.Close() })
	f.n = &nackResponder{ls: NewLinks(LinksConfig{Ceiling: 1_000_000}), streams: map[uint32]*sentHistory{},
		redundant: func(uint32) bool { return f.steady }, sent: func() *sendLog { return &f.p.sent }}
	network := interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
		var ext rtp.TransportCCExtension
		if err := ext.Unmarshal(h.GetExtension(5)); err != nil {
			t.Errorf("no TWCC number on SSRC %d: %v", h.SSRC, err)
		}
		key := [2]uint32{h.SSRC, uint32(h.SequenceNumber)}
		if h.SSRC == 2 {
			key[1] = uint32(binary.BigEndian.Uint16(payload))
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.sent++
		if f.drop[key] {
			delete(f.drop, key) // one copy only
			return len(payload), nil
		}
		f.rec.Record(1, ext.TransportSequence, time.Now().UnixMicro())
		if h.SSRC == 2 {
			f.arrived = append(f.arrived, rtp.Packet{Header: h.Clone(), Payload: append([]byte(nil), payload...)})
		}
		return len(payload), nil
	})
	f.p.AddStream(1, network)
	withTWCC := interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		hc := h.Clone()
		if err := hc.SetExtension(5, []byte{0, 0}); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		f.queued++
		f.mu.Unlock()
		return f.p.Write(&hc, payload, a)
	})
	f.media = f.n.BindLocalStream(&interceptor.StreamInfo{SSRC: 1, SSRCRetransmission: 2, PayloadTypeRetransmission: 97,
		RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}, withTWCC)
	return f
}

// send writes media packets from..to-1 and waits until the pacer has
// put everything out.
func (f *feedbackPath) send(from, to uint16) {
	for seq := from; seq < to; seq++ {
		if _, err := f.media.Write(&rtp.Header{SSRC: 1, SequenceNumber: seq, PayloadType: 96}, []byte{byte(seq), 1, 2, 3}, nil); err != nil {
			f.t.Fatal(err)
		}
	}
	f.waitFor("the pacer to send all", func() bool { return f.sent == f.queued })
}

// waitFor polls cond (under f.mu) with a deadline.
func (f *feedbackPath) waitFor(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		ok := cond()
		f.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *feedbackPath) waitArrived(seq uint16, copies int) {
	f.t.Helper()
	f.waitFor(fmt.Sprintf("%d RTX copies of %d", copies, seq), func() bool { return f.rtxOfLocked(seq) >= copies })
	if got := f.rtxOf(seq); got != copies {
		f.t.Fatalf("%d RTX copies of %d arrived, want %d", got, seq, copies)
	}
}

func (f *feedbackPath) queuedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queued
}

func (f *feedbackPath) history() *sentHistory { return f.n.stream(1) }

// feedback hands the receiver's TWCC feedback so far to the responder,
// through its RTCP reader.
func (f *feedbackPath) feedback() []rtcp.Packet {
	f.mu.Lock()
	pkts := f.rec.BuildFeedbackPacket()
	f.mu.Unlock()
	if len(pkts) == 0 {
		f.t.Fatal("no feedback to give")
	}
	f.rtcp(pkts...)
	return pkts
}

func (f *feedbackPath) rtcp(pkts ...rtcp.Packet) {
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		f.t.Fatal(err)
	}
	r := f.n.BindRTCPReader(interceptor.RTCPReaderFunc(func(out []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return copy(out, b), a, nil
	}))
	if _, _, err := r.Read(make([]byte, 1500), nil); err != nil {
		f.t.Fatal(err)
	}
}

func (f *feedbackPath) nack(seq uint16) {
	f.rtcp(&rtcp.TransportLayerNack{MediaSSRC: 1, Nacks: []rtcp.NackPair{{PacketID: seq}}})
}

// rtxOf returns how many RTX copies of seq arrived.
func (f *feedbackPath) rtxOf(seq uint16) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rtxOfLocked(seq)
}

func (f *feedbackPath) rtxOfLocked(seq uint16) int {
	n := 0
	for _, p := range f.arrived {
		if binary.BigEndian.Uint16(p.Payload) == seq {
			n++
		}
	}
	return n
}

func (f *feedbackPath) dropNext(ssrc uint32, seq uint16) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drop[[2]uint32{ssrc, uint32(seq)}] = true
}

// TestResendFromTWCCFeedback: on a randomly lossy link, a media packet
// lost with its NACK (no NACK reaches the sender) is resent as RTX once the
// receiver's TWCC feedback reports it missing, and arrives; a NACK for it
// within feedbackGuard of that resend (the receiver's, sent before the
// resend reached it) is not answered again, one after the guard is; when
// one of a NACK's two copies is lost and the other arrives, the feedback
// resends nothing; a packet already resent for a NACK since the lost copy
// left is not resent from feedback; behind congestion (steadyLoss false)
// the feedback resends nothing; a report is acted on once.
func TestResendFromTWCCFeedback(t *testing.T) {
	f := newFeedbackPath(t)
	expect := func(queued int, what string) {
		t.Helper()
		if got := f.queuedCount(); got != queued {
			t.Fatalf("%s: %d packets handed to the pacer, want %d", what, got, queued)
		}
	}

	// Lost, and its NACK too: the feedback brings it.
	f.dropNext(1, 105)
	f.send(100, 120)
	f.feedback()
	expect(21, "after the feedback reporting 105 lost")
	f.waitArrived(105, 1)
	resent := f.history().pkts[105%historySize].fromFeedback
	if resent.IsZero() {
		t.Fatal("the resend is not marked as from feedback")
	}
	nack := &rtcp.TransportLayerNack{MediaSSRC: 1, Nacks: []rtcp.NackPair{{PacketID: 105}}}
	f.n.answer(nack, resent.Add(feedbackGuard/2))
	expect(21, "a NACK within feedbackGuard of the resend")
	f.n.answer(nack, resent.Add(feedbackGuard+minResendGap))
	expect(23, "a NACK after feedbackGuard (two copies on steady loss)")
	f.waitArrived(105, 3)

	// A NACK's two copies, the first lost: the feedback resends nothing
	// for it, but brings 125, lost with its NACK.
	f.dropNext(2, 110)
	f.nack(110)
	expect(25, "a NACK on steady loss")
	f.dropNext(1, 125)
	f.send(120, 130)
	f.feedback()
	expect(36, "feedback with one copy of 110 lost and one arrived, and 125 lost")
	f.waitArrived(125, 1)
	f.waitArrived(110, 1)

	// A NACK answered before the feedback came: nothing more to send.
	f.dropNext(1, 135)
	f.send(130, 140)
	f.steady = false
	f.nack(135) // one copy on a congested link
	expect(47, "a NACK on a congested link")
	f.waitArrived(135, 1)
	f.steady = true
	f.feedback()
	expect(47, "feedback reporting the original of a packet resent for a NACK lost")

	// Congestion: a lost packet is left to the NACKs.
	f.steady = false
	f.dropNext(1, 145)
	f.send(140, 150)
	fb := f.feedback()
	expect(57, "feedback reporting a loss behind congestion")

	// The same report again, now on a randomly lossy link: a number is
	// acted on once only.
	f.steady = true
	f.rtcp(fb...)
	expect(57, "a repeated report")
}
