package peer

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// linkWithEstimator returns Links whose connection "pc" sends SSRC 1 (RTX
// 2) under an estimator started at start bits/s, with TWCC feedback seen.
func linkWithEstimator(t *testing.T, start int) (*Links, *estimator) {
	t.Helper()
	ls := NewLinks(LinksConfig{Ceiling: 1_000_000})
	e, err := newEstimator(start, 80_000, 1_000_000, kinds{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	l := ls.link("pc")
	ls.mu.Lock()
	l.bwe = e
	ls.bySSRC[1] = l
	ls.mu.Unlock()
	l.twccAt.Store(time.Now().UnixNano())
	return ls, e
}

// TestTargetPaysForRetransmissions: the encoder's target is the video's
// share of the estimate less the retransmissions sent over the last
// second, at most half the share; video and audio sent do not count, and
// the resend budget (the share) is not reduced. Before, the encoder kept
// its whole share while a bottleneck's drops were resent on top of it
// (BENCHMARKS.md, "Paying for the retransmissions").
func TestTargetPaysForRetransmissions(t *testing.T) {
	ls, e := linkWithEstimator(t, 500_000)
	share, ok := ls.videoShare(1)
	if !ok || share <= 0 {
		t.Fatalf("share %d, %v", share, ok)
	}
	if got, _ := ls.Target(1); got != share {
		t.Fatalf("target %d with nothing resent, want the share %d", got, share)
	}
	now := time.Now()
	seq := uint16(0)
	send := func(c sendClass, n int) { // n packets of 1250 bytes (10 kbit each) half a second ago
		for range n {
			e.pacer.sent.recordClass(seq, 1, seq, 1250, now.Add(-500*time.Millisecond), c)
			seq++
		}
	}
	send(classVideo, 30)
	send(classAudio, 5)
	if got, _ := ls.Target(1); got != share {
		t.Errorf("target %d after video and audio only, want the share %d", got, share)
	}
	send(classRTX, 10) // 100 kbit/s resent
	if got, _ := ls.Target(1); got != share-100_000 {
		t.Errorf("target %d with 100 kbit/s resent, want %d", got, share-100_000)
	}
	send(classRTX, 100) // 1.1 Mbit/s resent
	if got, _ := ls.Target(1); got != share-share/2 {
		t.Errorf("target %d with 1.1 Mbit/s resent, want half the share %d", got, share-share/2)
	}
	if got, _ := ls.videoShare(1); got != share {
		t.Errorf("resend budget %d, want the share %d", got, share)
	}
}

// TestNackResponderBudgetIsTheShare: with an estimate, a connection
// resends at most the video's share of it per second, also under
// minResendBudget (before, 300 kbit/s of resends went into a link
// estimated at 200 kbit/s).
func TestNackResponderBudgetIsTheShare(t *testing.T) {
	ls, _ := linkWithEstimator(t, 200_000)
	share, _ := ls.videoShare(1)
	if share >= minResendBudget {
		t.Fatalf("share %d, want one under the floor %d for this test", share, minResendBudget)
	}
	n := &nackResponder{ls: ls, streams: map[uint32]*sentHistory{}}
	out := &sink{}
	w := n.BindLocalStream(&interceptor.StreamInfo{SSRC: 1, SSRCRetransmission: 2, PayloadTypeRetransmission: 97,
		RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}, out)
	payload := make([]byte, 1000)
	for seq := uint16(0); seq < 900; seq++ {
		_, _ = w.Write(&rtp.Header{SSRC: 1, SequenceNumber: seq, PayloadType: 96}, payload, nil)
	}
	sent := len(out.pkts)
	now := time.Now()
	for i := range 30 { // NACKs for everything, over 0.9 s: one budget window
		n.answer(&rtcp.TransportLayerNack{MediaSSRC: 1, Nacks: rtcp.NackPairsFromSequenceNumbers(seqRange(uint16(i*30), uint16(i*30+30)))},
			now.Add(time.Duration(i)*30*time.Millisecond))
	}
	bytes := 0
	for _, p := range out.pkts[sent:] {
		bytes += len(p.Payload) + p.Header.MarshalSize()
	}
	if bytes == 0 || bytes*8 > share {
		t.Errorf("%d bit resent in one window, want some and at most the share %d", bytes*8, share)
	}
}
