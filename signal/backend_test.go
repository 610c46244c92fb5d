package signal

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/signal/proto"
)

// hookBackend is a MemoryBackend whose calls a test can intercept.
type hookBackend struct {
	*MemoryBackend
	join func(sink Sink) error // runs after a successful inner Join

	mu      sync.Mutex
	sendErr error // returned by Send instead of sending
}

func (h *hookBackend) failSends(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sendErr = err
}

func (h *hookBackend) Join(ctx context.Context, room string, p proto.PeerInfo, max int, sink Sink) ([]proto.PeerInfo, error) {
	peers, err := h.MemoryBackend.Join(ctx, room, p, max, sink)
	if err == nil && h.join != nil {
		if err := h.join(sink); err != nil {
			h.MemoryBackend.Leave(ctx, room, p.ID)
			return nil, err
		}
	}
	return peers, err
}

func (h *hookBackend) Send(ctx context.Context, room, to string, frame []byte) error {
	h.mu.Lock()
	err := h.sendErr
	h.mu.Unlock()
	if err != nil {
		return err
	}
	return h.MemoryBackend.Send(ctx, room, to, frame)
}

// TestWelcomeComesFirst: a frame delivered while the join is still in
// progress reaches the client after its welcome.
func TestWelcomeComesFirst(t *testing.T) {
	early := proto.Message{Type: proto.TypeOffer, From: "early", To: "x", SDP: "early"}
	hb := &hookBackend{MemoryBackend: NewMemoryBackend(), join: func(sink Sink) error {
		if !sink.Deliver(proto.Encode(early)) {
			t.Error("sink refused a frame during the join")
		}
		return nil
	}}
	defer hb.Close()
	ts := newTestServer(t, Config{Backend: hb})
	a, _ := ts.join(t, "r", "A") // join checks that welcome is first
	if m := a.expect(proto.TypeOffer); m.SDP != "early" {
		t.Fatalf("got %+v, want the early offer after welcome", m)
	}
}

// TestBackendErrors: backend failures reach the client as coded errors,
// never as internal error text.
func TestBackendErrors(t *testing.T) {
	secret := errors.New("dial tcp 10.0.0.7:6379: connection refused")
	tests := []struct {
		name  string
		err   error
		code  string
		close int
	}{
		{"unavailable", ErrUnavailable, proto.CodeUnavailable, websocket.CloseTryAgainLater},
		{"wrapped unavailable", errors.Join(secret, ErrUnavailable), proto.CodeUnavailable, websocket.CloseTryAgainLater},
		{"timeout", context.DeadlineExceeded, proto.CodeUnavailable, websocket.CloseTryAgainLater},
		{"room full", ErrRoomFull, proto.CodeRoomFull, websocket.ClosePolicyViolation},
		{"internal", secret, proto.CodeInternal, websocket.CloseInternalServerErr},
	}
	for _, tt := range tests {
		t.Run("join "+tt.name, func(t *testing.T) {
			hb := &hookBackend{MemoryBackend: NewMemoryBackend(), join: func(Sink) error { return tt.err }}
			defer hb.Close()
			ts := newTestServer(t, Config{Backend: hb})
			c := ts.dial(t, "r")
			c.send(proto.Message{Type: proto.TypeJoin, Version: proto.Version, Name: "A"})
			m := c.expectError(tt.code, proto.TypeJoin)
			if strings.Contains(m.Message, "10.0.0.7") {
				t.Fatalf("error leaks internal text: %q", m.Message)
			}
			c.expectClose(tt.close)
		})
		t.Run("send "+tt.name, func(t *testing.T) {
			hb := &hookBackend{MemoryBackend: NewMemoryBackend()}
			defer hb.Close()
			ts := newTestServer(t, Config{Backend: hb})
			a, _ := ts.join(t, "r", "A")
			b, _ := ts.join(t, "r", "B")
			a.expectPeer(proto.TypePeerJoined, b)
			hb.failSends(tt.err)
			b.offer(a.id, "x")
			m := b.expectError(tt.code, proto.TypeOffer)
			if m.To != a.id || strings.Contains(m.Message, "10.0.0.7") {
				t.Fatalf("error %+v: want to=%s and no internal text", m, a.id)
			}
			// The connection stays open.
			c, _ := ts.join(t, "r", "C")
			b.expectPeer(proto.TypePeerJoined, c)
		})
	}
}

// blockingBackend is a Backend that does not promise a non-blocking Send:
// it hides the MemoryBackend's methods behind an interface field.
type blockingBackend struct{ Backend }

// TestNonBlockingBackend: the timeout-free Send path follows the optional
// NonBlocking interface, not the concrete type, so a wrapper that embeds
// the MemoryBackend keeps it and a backend without the method does not get it.
func TestNonBlockingBackend(t *testing.T) {
	for _, tc := range []struct {
		name    string
		backend Backend
		inline  bool
	}{
		{"memory", NewMemoryBackend(), true},
		{"wrapper embedding memory", &hookBackend{MemoryBackend: NewMemoryBackend()}, true},
		{"opaque wrapper", blockingBackend{NewMemoryBackend()}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Config{Backend: tc.backend})
			if err != nil {
				t.Fatal(err)
			}
			defer tc.backend.Close()
			if s.inlineBackend != tc.inline {
				t.Errorf("inlineBackend = %v, want %v", s.inlineBackend, tc.inline)
			}
		})
	}
}
