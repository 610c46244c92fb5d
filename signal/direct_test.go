package signal

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/videochat/videochat/signal/proto"
)

// The tests in this file cover writeDirect: a frame for an idle client is
// written by the delivering goroutine itself, without the writer.

// TestDirectWriteFrameSizes relays offers whose frames take each of the
// three WebSocket length encodings (7-bit, 16-bit and 64-bit) and checks
// that a gorilla client reads them intact.
func TestDirectWriteFrameSizes(t *testing.T) {
	ts := newTestServer(t, Config{ReadLimit: 1 << 20})
	a, _ := ts.join(t, "r", "A")
	b, _ := ts.join(t, "r", "B")
	a.expectPeer(proto.TypePeerJoined, b)
	for _, n := range []int{1, 60, 125, 200, 40_000, 65_535, 70_000} {
		sdp := strings.Repeat("v", n)
		a.offer(b.id, sdp)
		m := b.expect(proto.TypeOffer)
		if m.SDP != sdp || m.From != a.id {
			t.Fatalf("SDP of %d bytes: got %d bytes from %q", n, len(m.SDP), m.From)
		}
	}
}

// TestDirectWriteBackpressure sends a client that does not read far more
// than the kernel's socket buffers hold, so that direct writes come up
// short and later frames queue behind the rest. Once it reads, every frame
// must arrive whole and in order.
func TestDirectWriteBackpressure(t *testing.T) {
	const frames, size = 400, 32 << 10 // 12.8 MiB: more than loopback buffers hold
	ts := newTestServer(t, Config{SendQueue: frames + 16, MessageRate: Unlimited})
	a, _ := ts.join(t, "r", "A")
	b, _ := ts.join(t, "r", "B")
	a.expectPeer(proto.TypePeerJoined, b)

	pad := strings.Repeat("x", size)
	for i := range frames {
		a.offer(b.id, fmt.Sprintf("%06d-%s", i, pad))
	}
	// The server handles a client's frames in order: once A hears the
	// answer to this, every offer before it has been written or queued.
	a.offer(a.id, "self")
	a.expectError(proto.CodeBadMessage, proto.TypeOffer)

	for i := range frames {
		m := b.expect(proto.TypeOffer)
		want := fmt.Sprintf("%06d-%s", i, pad)
		if m.SDP != want {
			t.Fatalf("offer %d: got %.20q… (%d bytes), want %.20q… (%d bytes)", i, m.SDP, len(m.SDP), want, len(want))
		}
	}
	if st := ts.Stats(); st.Evictions != 0 {
		t.Fatalf("evictions = %d, want 0", st.Evictions)
	}
}

// TestDirectWriteAfterWriteDeadline relays a message to a client long after
// the writer's last batch set a write deadline on its socket: the direct
// write, which never waits, must not fail on that stale deadline.
func TestDirectWriteAfterWriteDeadline(t *testing.T) {
	const writeWait = 100 * time.Millisecond
	ts := newTestServer(t, Config{WriteWait: writeWait})
	a, _ := ts.join(t, "r", "A")
	b, _ := ts.join(t, "r", "B") // its welcome went through the writer
	a.expectPeer(proto.TypePeerJoined, b)
	// Not a synchronisation: the condition under test is time passing.
	time.Sleep(3 * writeWait)
	a.offer(b.id, "late")
	if m := b.expect(proto.TypeOffer); m.SDP != "late" || m.From != a.id {
		t.Fatalf("got %+v, want the late offer from A", m)
	}
	if st := ts.Stats(); st.Evictions != 0 || st.Held != 0 {
		t.Fatalf("stats = %+v, want no eviction and no held session", st)
	}
}
