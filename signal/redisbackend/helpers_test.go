package redisbackend

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/videochat/videochat/internal/redistest"
	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/signal/proto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testSink records delivered frames in a channel.
type testSink struct{ ch chan []byte }

func newSink() *testSink { return &testSink{ch: make(chan []byte, 4096)} }

func (s *testSink) Deliver(frame []byte) bool {
	select {
	case s.ch <- frame:
		return true
	default:
		return false
	}
}

// next returns the next frame, failing the test after timeout.
func (s *testSink) next(t *testing.T, timeout time.Duration) proto.Message {
	t.Helper()
	select {
	case f := <-s.ch:
		m, perr := proto.Decode(f)
		if perr != nil && m.Type == "" {
			t.Fatalf("undecodable frame %q", f)
		}
		return m
	case <-time.After(timeout):
		t.Fatalf("no frame within %v", timeout)
		return proto.Message{}
	}
}

// expectMember requires the next frame to be a typ message about peer id.
func (s *testSink) expectMember(t *testing.T, typ, id string, timeout time.Duration) {
	t.Helper()
	m := s.next(t, timeout)
	if m.Type != typ || m.Peer == nil || m.Peer.ID != id {
		t.Fatalf("got %s %+v, want %s about %q", m.Type, m.Peer, typ, id)
	}
	if m.Peer.Name != nameOf(id) {
		t.Fatalf("%s about %q carries name %q, want %q", typ, id, m.Peer.Name, nameOf(id))
	}
}

// expectQuiet requires that no frame arrives within d.
func (s *testSink) expectQuiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case f := <-s.ch:
		t.Fatalf("unexpected frame %s", f)
	case <-time.After(d):
	}
}

func nameOf(id string) string { return "name of " + id }

func peerInfo(id string) proto.PeerInfo { return proto.PeerInfo{ID: id, Name: nameOf(id)} }

func ids(peers []proto.PeerInfo) string {
	out := make([]string, len(peers))
	for i, p := range peers {
		out[i] = p.ID
		if p.Name != nameOf(p.ID) {
			out[i] += "(bad name " + p.Name + ")"
		}
	}
	return strings.Join(out, ",")
}

// testWriter sends log lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// newNode starts a backend on srv named node, ready, closed at the end.
func newNode(t *testing.T, srv *redistest.Server, node string, ttl time.Duration) *Backend {
	t.Helper()
	b, err := New(context.Background(), Config{
		URL:         srv.URL(),
		NodeID:      node,
		PresenceTTL: ttl,
		Logger:      slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	waitReady(t, b, 10*time.Second)
	return b
}

// waitReady polls Ready until it succeeds.
func waitReady(t *testing.T, b *Backend, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := b.Ready(context.Background())
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("node %s not ready within %v: %v", b.NodeID(), timeout, err)
		}
		time.Sleep(20 * time.Millisecond) // polling an external condition
	}
}

// join joins id to room on b and checks the roster it returns.
func join(t *testing.T, b *Backend, room, id string, wantRoster string) *testSink {
	t.Helper()
	s := newSink()
	peers, err := b.Join(context.Background(), room, peerInfo(id), 8, s)
	if err != nil {
		t.Fatalf("join %s on %s: %v", id, b.NodeID(), err)
	}
	if got := ids(peers); got != wantRoster {
		t.Fatalf("join %s on %s: roster %q, want %q", id, b.NodeID(), got, wantRoster)
	}
	return s
}

// joinThree joins a1 and a2 on node a and then b1 on node b to room "r",
// and waits until the earlier peers have heard of the later ones.
func joinThree(t *testing.T, a, b *Backend) (a1, a2, b1 *testSink) {
	t.Helper()
	a1 = join(t, a, "r", "a1", "")
	a2 = join(t, a, "r", "a2", "a1")
	b1 = join(t, b, "r", "b1", "a1,a2")
	a1.expectMember(t, proto.TypePeerJoined, "a2", wait)
	a1.expectMember(t, proto.TypePeerJoined, "b1", wait)
	a2.expectMember(t, proto.TypePeerJoined, "b1", wait)
	return a1, a2, b1
}

// crash stops b like kill -9 would: no cleanup in Redis.
func (b *Backend) crash() {
	b.closed.Store(true)
	b.live.Store(false)
	b.closeOnce.Do(b.halt)
}

func isUnavailable(err error) bool { return errors.Is(err, signal.ErrUnavailable) }
