package whip_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/whip"
)

// TestWHIPFeedbackToPublisher: the server's interceptors
// (whip.RegisterInterceptors) give a publisher that stamps transport-wide
// sequence numbers TWCC feedback, and NACK a packet it skipped; with the
// server's reads as they come (whip.DefaultReadBatch) and coalesced
// (serve --whip-read-batch 10ms: TWCC arrival times from rxbatch, so the
// feedback shows the packets' real spacing).
func TestWHIPFeedbackToPublisher(t *testing.T) {
	for _, tc := range []struct {
		name      string
		readBatch time.Duration
	}{{"default reads", whip.DefaultReadBatch}, {"batched reads", 10 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) { testFeedbackToPublisher(t, tc.readBatch) })
	}
}

func testFeedbackToPublisher(t *testing.T, readBatch time.Duration) {
	e := startEnv(t, signal.Config{}, whip.Config{API: serverAPI(t, readBatch)})
	startRoomPeer(t, e, "fb", "bob", nil, nil)
	pub := newRawPublisher(t, true, nil)
	pc, raw := pub.pc, pub.raw
	var twccs, nacked atomic.Int64
	var (
		fbMu   sync.Mutex
		deltas []int64 // µs between consecutive packets in the feedback
	)
	const skipped = 40
	pub.onRTCP(func(p rtcp.Packet) {
		switch p := p.(type) {
		case *rtcp.TransportLayerCC:
			twccs.Add(1)
			fbMu.Lock()
			for i, d := range p.RecvDeltas {
				if i > 0 {
					deltas = append(deltas, d.Delta)
				}
			}
			fbMu.Unlock()
		case *rtcp.TransportLayerNack:
			nacked.Add(nacksFor(p, skipped))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	sess, err := whip.Dial(ctx, nil, e.url+"/whip/fb?name=pub", "", pc)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	seq := uint16(0)
	waitFor(t, "TWCC feedback and a NACK for the skipped packet", func() bool {
		for range 10 {
			seq++
			if seq != skipped {
				raw.write(seq, 0, 'v')
			}
			time.Sleep(5 * time.Millisecond)
		}
		return twccs.Load() > 0 && nacked.Load() > 0
	})
	if readBatch == 0 {
		return // arrival = when read: a loaded machine may read two at once
	}
	// The packets left the publisher 5 ms or more apart, and the feedback
	// says so: arrival times are the kernel's, not those of the batched
	// reads (a 10 ms batch would put every other packet 0 ms after the
	// previous one).
	fbMu.Lock()
	defer fbMu.Unlock()
	near := 0
	for _, d := range deltas {
		if d < 2000 {
			near++
		}
	}
	if len(deltas) == 0 || near > len(deltas)/10 {
		t.Fatalf("%d of %d packets sent ≥ 5 ms apart arrived < 2 ms after the previous one, by the TWCC feedback: %v", near, len(deltas), deltas)
	}
}
