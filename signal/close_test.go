package signal

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/videochat/videochat/signal/proto"
)

func TestOversizeFrame(t *testing.T) {
	ts := newTestServer(t, Config{})
	a, _ := ts.join(t, "r", "A")
	b, _ := ts.join(t, "r", "B")
	a.expectPeer(proto.TypePeerJoined, b)

	// A frame of exactly the limit is read and relayed.
	frame := `{"type":"offer","to":"` + b.id + `","sdp":"`
	pad := proto.MaxFrameSize - len(frame) - len(`"}`)
	a.sendRaw(websocket.TextMessage, []byte(frame+strings.Repeat("s", pad)+`"}`))
	if got := b.expect(proto.TypeOffer); len(got.SDP) != pad {
		t.Fatalf("relayed sdp of %d bytes, want %d", len(got.SDP), pad)
	}

	// One byte more closes the connection with 1009.
	a.sendRaw(websocket.TextMessage, []byte(frame+strings.Repeat("s", pad+1)+`"}`))
	a.expectClose(websocket.CloseMessageTooBig)
	b.expectPeer(proto.TypePeerLeft, a)
}

func TestLeaveNotice(t *testing.T) {
	// An explicit leave or close frame is announced at once: with an hour
	// of resume grace the test would time out otherwise. A dropped
	// connection is announced after the grace period, or at once without
	// resume.
	tests := []struct {
		name  string
		cfg   Config
		leave func(c *client)
	}{
		{"leave message", Config{ResumeGrace: time.Hour}, func(c *client) {
			c.send(proto.Message{Type: proto.TypeLeave})
			c.expectClose(websocket.CloseNormalClosure)
		}},
		{"close frame", Config{ResumeGrace: time.Hour}, func(c *client) {
			msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")
			if err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(ioTimeout)); err != nil {
				t.Fatal(err)
			}
			c.expectClose(websocket.CloseNormalClosure) // the server's echo
		}},
		{"abrupt disconnect", Config{ResumeGrace: 200 * time.Millisecond}, func(c *client) {
			if err := c.ws.NetConn().Close(); err != nil {
				t.Fatal(err)
			}
		}},
		{"abrupt disconnect without resume", Config{ResumeGrace: time.Hour, DisableResume: true}, func(c *client) {
			if err := c.ws.NetConn().Close(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, tt.cfg)
			a, b, c := ts.joinThree(t, "r")

			tt.leave(a)
			b.expectPeer(proto.TypePeerLeft, a)
			c.expectPeer(proto.TypePeerLeft, a)
			_, w := ts.join(t, "r", "D")
			assertPeers(t, w.Peers, b, c)
		})
	}
}

func TestLastLeaveRemovesRoom(t *testing.T) {
	mem := NewMemoryBackend()
	defer mem.Close()
	ts := newTestServer(t, Config{Backend: mem})
	a, _ := ts.join(t, "r", "A")
	if got := mem.Peers("r"); len(got) != 1 || got[0].ID != a.id {
		t.Fatalf("room r holds %+v, want A", got)
	}
	a.send(proto.Message{Type: proto.TypeLeave})
	a.expectClose(websocket.CloseNormalClosure)
	if got := mem.Peers("r"); got != nil {
		t.Fatalf("room r still holds %+v after its last peer left", got)
	}
}

// TestSlowConsumerEvicted: a peer that never reads is evicted once its
// queue is full, and its room-mates carry on.
func TestSlowConsumerEvicted(t *testing.T) {
	ts := newTestServer(t, Config{SendQueue: 8, MessageRate: Unlimited})
	slow, _ := ts.join(t, "r", "Slow")
	flood, _ := ts.join(t, "r", "Flood")
	slow.expectPeer(proto.TypePeerJoined, flood)
	obs, _ := ts.join(t, "r", "Obs")
	slow.expectPeer(proto.TypePeerJoined, obs)
	flood.expectPeer(proto.TypePeerJoined, obs)
	// From here on slow never reads until the end.

	cand := proto.Message{Type: proto.TypeCandidate, To: slow.id,
		Candidate: &proto.ICECandidate{Candidate: strings.Repeat("c", 32<<10)}}
	stop := make(chan struct{})
	flooded := flood.writeUntil(proto.Encode(cand), 20000, stop)

	// The flooder learns of the eviction; errors for frames that could not
	// be delivered to the evicted peer may come first.
	for {
		m := flood.read()
		if m.Type == proto.TypeError && m.Code == proto.CodeUnknownPeer && m.To == slow.id {
			continue
		}
		if m.Type != proto.TypePeerLeft || m.Peer == nil || m.Peer.ID != slow.id {
			t.Fatalf("flooder got %+v, want peer-left for the slow peer", m)
		}
		break
	}
	close(stop)
	t.Logf("slow peer evicted after %d frames of 32 KiB", <-flooded)
	obs.expectPeer(proto.TypePeerLeft, slow)

	// The others still relay both ways.
	obs.offer(flood.id, "from-obs")
	for {
		m := flood.read()
		if m.Type == proto.TypeError && m.To == slow.id {
			continue
		}
		if m.Type != proto.TypeOffer || m.SDP != "from-obs" || m.From != obs.id {
			t.Fatalf("flooder got %+v, want the observer's offer", m)
		}
		break
	}
	flood.offer(obs.id, "from-flood")
	if m := obs.expect(proto.TypeOffer); m.SDP != "from-flood" {
		t.Fatalf("observer got %+v, want the flooder's offer", m)
	}

	// The slow peer's connection is gone: reading drains what was buffered
	// and then ends.
	for {
		if _, err := slow.readFrame(); err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("slow peer's connection still open: %v", err)
			}
			break
		}
	}
}

func TestHandshakeTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	ts := newTestServer(t, Config{HandshakeTimeout: timeout})
	start := time.Now()
	c := ts.dial(t, "r")
	c.expectError(proto.CodeHandshakeTimeout, "")
	c.expectClose(websocket.ClosePolicyViolation)
	if el := time.Since(start); el < timeout {
		t.Fatalf("closed after %v, before the %v handshake timeout", el, timeout)
	}
	// A peer that joins in time stays past the timeout.
	a, _ := ts.join(t, "r", "A")
	b := ts.dial(t, "r")
	b.expectError(proto.CodeHandshakeTimeout, "") // b waits past the timeout
	b.expectClose(websocket.ClosePolicyViolation)
	n, _ := ts.join(t, "r", "N")
	a.expectPeer(proto.TypePeerJoined, n)
}

func TestKeepalive(t *testing.T) {
	// Generous: A must answer pings in time on a loaded machine.
	const pongWait, grace = time.Second, 200 * time.Millisecond
	ts := newTestServer(t, Config{PingInterval: 100 * time.Millisecond, PongWait: pongWait, ResumeGrace: grace})
	a, _ := ts.join(t, "r", "A")
	start := time.Now() // the server last hears from mute after this
	mute, _ := ts.join(t, "r", "Mute")
	a.expectPeer(proto.TypePeerJoined, mute)
	// mute stops reading, so it answers no pings; A reads and so answers
	// them. mute's session is held for the resume grace, then it leaves.
	a.expectPeer(proto.TypePeerLeft, mute)
	if el := time.Since(start); el < pongWait+grace {
		t.Fatalf("mute peer dropped after %v, before PongWait + ResumeGrace", el)
	}
	// A has been idle for longer than PongWait and is still there.
	b, _ := ts.join(t, "r", "B")
	a.expectPeer(proto.TypePeerJoined, b)
}

// TestShutdown: clients get bye and close 1001, new connections are
// refused, and no goroutine is left.
func TestShutdown(t *testing.T) {
	defer goleak.VerifyNone(t)
	ts := startTestServer(t, Config{})
	defer ts.http.Close()
	a, _ := ts.join(t, "r", "A")
	b, _ := ts.join(t, "r", "B")
	a.expectPeer(proto.TypePeerJoined, b)
	pending := ts.dial(t, "r") // connected, not joined

	done := make(chan error, 1)
	go func() { done <- ts.Shutdown(context.Background()) }()
	for _, c := range []*client{a, b, pending} {
		if m := c.expect(proto.TypeBye); m.Code != proto.CodeServerShutdown {
			t.Fatalf("bye = %+v, want code %s", m, proto.CodeServerShutdown)
		}
		c.expectClose(websocket.CloseGoingAway)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	_, resp, err := ts.dialRaw("r", nil)
	if !errors.Is(err, websocket.ErrBadHandshake) || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after shutdown: %v, want a 503", err)
	}
	if err := ts.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	ts.http.Close()
	for _, c := range []*client{a, b, pending} {
		c.ws.Close()
	}
}

// TestShutdownDeadline: clients that never answer the close are dropped
// when the context ends, and Shutdown still waits for every goroutine.
func TestShutdownDeadline(t *testing.T) {
	defer goleak.VerifyNone(t)
	ts := startTestServer(t, Config{CloseGrace: time.Hour})
	defer ts.http.Close()
	a, _ := ts.join(t, "r", "A") // never reads again
	defer a.ws.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want deadline exceeded", err)
	}
	if el := time.Since(start); el > ioTimeout {
		t.Fatalf("Shutdown took %v", el)
	}
	ts.http.Close()
	a.ws.Close()
}
