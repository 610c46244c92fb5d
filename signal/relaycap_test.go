package signal

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/videochat/videochat/signal/proto"
)

// TestRelayCap floods the server past its relay cap: the excess is shed,
// the sender hears so with one overloaded error (not fatal), what is
// relayed arrives in order, and relaying resumes as soon as the cap has
// room again.
func TestRelayCap(t *testing.T) {
	const sent = 40
	m := NewMetrics(prometheus.NewRegistry())
	ts := newTestServer(t, Config{RelayRate: 5, RelayBurst: 5, MessageRate: Unlimited, Metrics: m})
	a, _ := ts.join(t, "r", "A")
	b, _ := ts.join(t, "r", "B")
	a.expectPeer(proto.TypePeerJoined, b)

	start := time.Now()
	for i := range sent {
		a.offer(b.id, strings.Repeat("o", i+1)) // the length says which one
	}
	// Offers to oneself are answered before the cap is consulted: once A
	// hears this answer, every offer above has been relayed or shed.
	a.offer(a.id, "barrier")
	overloaded := 0
	for {
		m := a.read()
		if m.Type == proto.TypeError && m.Code == proto.CodeOverloaded {
			if m.Ref != proto.TypeOffer {
				t.Fatalf("overloaded error refers to %q, want offer", m.Ref)
			}
			overloaded++
			continue
		}
		if m.Type != proto.TypeError || m.Code != proto.CodeBadMessage {
			t.Fatalf("sender got %+v, want overloaded errors, then the barrier's bad-message", m)
		}
		break
	}
	shed := int(ts.Stats().Shed)
	// At 5 a second, 40 offers sent within a few seconds cannot all pass.
	if elapsed := time.Since(start); shed < sent-5-int(5*elapsed.Seconds())-1 {
		t.Fatalf("shed %d of %d offers in %v, want the excess over the cap shed", shed, sent, elapsed)
	}
	if overloaded < 1 || overloaded > 1+int(time.Since(start)/shedReplyEvery) {
		t.Fatalf("sender got %d overloaded errors, want one per %v of shedding", overloaded, shedReplyEvery)
	}

	if got := testutil.ToFloat64(m.shed); got != float64(shed) {
		t.Errorf("shed_messages_total = %v, want %d", got, shed)
	}
	waitFor(t, "overloaded errors counted", func() bool {
		return testutil.ToFloat64(m.errors.WithLabelValues(proto.CodeOverloaded)) == float64(overloaded)
	})

	last := 0
	for range sent - shed {
		m := b.expect(proto.TypeOffer)
		if len(m.SDP) <= last {
			t.Fatalf("offer %d arrived after offer %d", len(m.SDP), last)
		}
		last = len(m.SDP)
	}

	// The load has dropped: once the bucket has refilled (5 a second), the
	// next offer goes through. Each try ends with the barrier, so the shed
	// count says whether the offer passed.
	deadline := time.Now().Add(ioTimeout)
	for {
		before := ts.Stats().Shed
		a.offer(b.id, "resume")
		a.offer(a.id, "barrier")
		for m := a.read(); m.Code != proto.CodeBadMessage; m = a.read() {
		}
		if ts.Stats().Shed == before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("relaying did not resume after the flood")
		}
		time.Sleep(50 * time.Millisecond) // not a synchronisation: the bucket refills with time
	}
	if m := b.expect(proto.TypeOffer); m.SDP != "resume" {
		t.Fatalf("receiver got %+v, want the offer sent after the flood", m)
	}
}
