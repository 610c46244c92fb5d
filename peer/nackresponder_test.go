package peer

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// sink records what a responder writes below it.
type sink struct {
	mu   sync.Mutex
	pkts []rtp.Packet
}

func (s *sink) Write(h *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pkts = append(s.pkts, rtp.Packet{Header: h.Clone(), Payload: append([]byte(nil), payload...)})
	return len(payload), nil
}

// TestNackResponderResendsOnEveryNack: a NACK is answered with RTX (the
// original sequence number first in the payload, the RTX stream's own
// sequence numbers); a second NACK for the same packet a round trip later
// is answered again (pion's responder ignores it within RTT + 5 ms); a
// duplicate within minResendGap is not; packets no longer in the history
// are not; the budget caps what a NACK flood gets.
func TestNackResponderResendsOnEveryNack(t *testing.T) {
	ls := NewLinks(LinksConfig{Ceiling: 1_000_000})
	n := &nackResponder{ls: ls, streams: map[uint32]*sentHistory{}}
	out := &sink{}
	w := n.BindLocalStream(&interceptor.StreamInfo{SSRC: 1, SSRCRetransmission: 2, PayloadTypeRetransmission: 97,
		RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}, out)
	for seq := uint16(100); seq < 100+historySize+10; seq++ {
		_, _ = w.Write(&rtp.Header{SSRC: 1, SequenceNumber: seq, PayloadType: 96}, []byte{byte(seq), 1, 2, 3}, nil)
	}
	sent := len(out.pkts)
	nack := func(seq uint16, at time.Time) {
		n.answer(&rtcp.TransportLayerNack{MediaSSRC: 1, Nacks: []rtcp.NackPair{{PacketID: seq}}}, at)
	}
	now := time.Now()
	last := uint16(100 + historySize + 5)
	nack(last, now)
	if len(out.pkts) != sent+1 {
		t.Fatalf("%d packets written for one NACK", len(out.pkts)-sent)
	}
	rtx := out.pkts[len(out.pkts)-1]
	if rtx.SSRC != 2 || rtx.PayloadType != 97 || binary.BigEndian.Uint16(rtx.Payload) != last || rtx.Payload[2] != byte(last) {
		t.Errorf("retransmission %+v, want RTX of %d", rtx.Header, last)
	}
	nack(last, now.Add(minResendGap/2))
	if len(out.pkts) != sent+1 {
		t.Error("a duplicate NACK within minResendGap was answered")
	}
	nack(last, now.Add(60*time.Millisecond))
	if len(out.pkts) != sent+2 {
		t.Fatal("a second NACK one round trip later was not answered")
	}
	if a, b := out.pkts[sent].SequenceNumber, out.pkts[sent+1].SequenceNumber; b != a+1 {
		t.Errorf("RTX sequence numbers %d then %d, want consecutive", a, b)
	}
	nack(100, now) // overwritten in the history
	if len(out.pkts) != sent+2 {
		t.Error("a packet no longer in the history was resent")
	}
	// A flood: every packet in the history, again and again, in one second.
	for i := range 50 {
		at := now.Add(100*time.Millisecond + time.Duration(i)*15*time.Millisecond)
		n.answer(&rtcp.TransportLayerNack{MediaSSRC: 1, Nacks: rtcp.NackPairsFromSequenceNumbers(seqRange(200, 900))}, at)
	}
	bytes := 0
	for _, p := range out.pkts[sent+2:] {
		bytes += len(p.Payload) + p.Header.MarshalSize()
	}
	if bytes*8 > minResendBudget*2 { // two budget windows at most in 0.85 s
		t.Errorf("a NACK flood got %d bytes resent, over the budget", bytes)
	}
}

func seqRange(from, to uint16) []uint16 {
	var s []uint16
	for q := from; q < to; q++ {
		s = append(s, q)
	}
	return s
}

// TestNackResponderSendsTwiceOnSteadyLoss: on a link that loses at random
// every NACKed packet goes out as two RTX packets (the same original
// sequence number, consecutive RTX sequence numbers), so one lost RTX no
// longer costs a round trip; on a congested link (redundant false) once.
func TestNackResponderSendsTwiceOnSteadyLoss(t *testing.T) {
	steady := true
	ls := NewLinks(LinksConfig{Ceiling: 1_000_000})
	n := &nackResponder{ls: ls, streams: map[uint32]*sentHistory{}, redundant: func(uint32) bool { return steady }}
	out := &sink{}
	w := n.BindLocalStream(&interceptor.StreamInfo{SSRC: 1, SSRCRetransmission: 2, PayloadTypeRetransmission: 97,
		RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}, out)
	for seq := uint16(100); seq < 200; seq++ {
		_, _ = w.Write(&rtp.Header{SSRC: 1, SequenceNumber: seq, PayloadType: 96}, []byte{byte(seq), 1, 2, 3}, nil)
	}
	sent := len(out.pkts)
	now := time.Now()
	n.answer(&rtcp.TransportLayerNack{MediaSSRC: 1, Nacks: []rtcp.NackPair{{PacketID: 150}}}, now)
	got := out.pkts[sent:]
	if len(got) != 2 {
		t.Fatalf("%d packets for one NACK on a steadily lossy link, want 2", len(got))
	}
	for _, p := range got {
		if p.SSRC != 2 || p.PayloadType != 97 || binary.BigEndian.Uint16(p.Payload) != 150 || p.Payload[2] != 150 {
			t.Errorf("copy %+v, want RTX of 150", p.Header)
		}
	}
	if got[1].SequenceNumber != got[0].SequenceNumber+1 {
		t.Errorf("RTX sequence numbers %d, %d, want consecutive", got[0].SequenceNumber, got[1].SequenceNumber)
	}
	steady = false
	sent = len(out.pkts)
	n.answer(&rtcp.TransportLayerNack{MediaSSRC: 1, Nacks: []rtcp.NackPair{{PacketID: 160}}}, now)
	if len(out.pkts)-sent != 1 {
		t.Errorf("%d packets for one NACK on a congested link, want 1", len(out.pkts)-sent)
	} else if q := out.pkts[sent].SequenceNumber; q != got[1].SequenceNumber+1 {
		t.Errorf("RTX sequence number %d after %d", q, got[1].SequenceNumber)
	}
}

// TestEstimatorSteadyLoss: a link that always loses about 5 % counts as
// lossy at random; a loss window well above its usual loss (a queue
// overflowing) or a standing queue in the round trip does not, nor does a
// clean link.
func TestEstimatorSteadyLoss(t *testing.T) {
	e, err := newEstimator(500_000, 80_000, 1_000_000, kinds{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	now := time.Now()
	window := func(got, lost int) {
		now = now.Add(lossWindow)
		e.addLoss(got, lost, now)
	}
	e.addLoss(0, 0, now)
	window(100, 0)
	if e.steadyLoss() {
		t.Error("a clean link counts as lossy")
	}
	for range 10 {
		window(95, 5)
	}
	if !e.steadyLoss() {
		t.Errorf("5 %% loss in every window is not steady loss: %s", e.debugState())
	}
	window(80, 20)
	if e.steadyLoss() {
		t.Error("a window of 20 % loss still counts as random loss")
	}
	for range 10 {
		window(95, 5)
	}
	for i := range 5 {
		e.addRTT(60*time.Millisecond+time.Duration(i)*100*time.Millisecond, now)
	}
	if e.steadyLoss() {
		t.Errorf("a standing queue still counts as random loss: %s", e.debugState())
	}
}
