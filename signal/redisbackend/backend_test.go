package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/videochat/videochat/internal/redistest"
	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/signal/proto"
)

const wait = 5 * time.Second

func TestJoinAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newNode(t, srv, "A", 0), newNode(t, srv, "B", 0)

	a1 := join(t, a, "r", "a1", "")
	b1 := join(t, b, "r", "b1", "a1")
	a1.expectMember(t, proto.TypePeerJoined, "b1", wait)
	a2 := join(t, a, "r", "a2", "a1,b1")
	a1.expectMember(t, proto.TypePeerJoined, "a2", wait)
	b1.expectMember(t, proto.TypePeerJoined, "a2", wait)

	// Another room is separate.
	join(t, b, "other", "o1", "")

	if err := b.Leave(context.Background(), "r", "b1"); err != nil {
		t.Fatal(err)
	}
	a1.expectMember(t, proto.TypePeerLeft, "b1", wait)
	a2.expectMember(t, proto.TypePeerLeft, "b1", wait)
	join(t, b, "r", "b2", "a1,a2")
	a1.expectMember(t, proto.TypePeerJoined, "b2", wait)
	a2.expectMember(t, proto.TypePeerJoined, "b2", wait)
	// Leaving twice, or a room one is not in, is a no-op.
	if err := b.Leave(context.Background(), "r", "b1"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*testSink{a1, a2, b1} {
		s.expectQuiet(t, 200*time.Millisecond)
	}
}

func TestSendAcrossNodesInOrder(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newNode(t, srv, "A", 0), newNode(t, srv, "B", 0)
	a1, a2, b1 := joinThree(t, a, b)
	ctx := context.Background()

	const n = 1000
	start := time.Now()
	for i := range n {
		frame := proto.Encode(proto.Message{Type: proto.TypeCandidate, From: "a1", To: "b1", SDP: strconv.Itoa(i)})
		if err := a.Send(ctx, "r", "b1", frame); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	for i := range n {
		m := b1.next(t, wait)
		if m.From != "a1" || m.SDP != strconv.Itoa(i) {
			t.Fatalf("frame %d: got from %q seq %q", i, m.From, m.SDP)
		}
	}
	t.Logf("%d directed frames A→B in order in %v", n, time.Since(start))

	// The other way, and to a local peer.
	if err := b.Send(ctx, "r", "a2", []byte(`{"type":"offer","from":"b1","sdp":"x"}`)); err != nil {
		t.Fatal(err)
	}
	if m := a2.next(t, wait); m.Type != proto.TypeOffer || m.From != "b1" {
		t.Fatalf("a2 got %+v", m)
	}
	if err := a.Send(ctx, "r", "a2", []byte(`{"type":"answer","from":"a1","sdp":"y"}`)); err != nil {
		t.Fatal(err)
	}
	if m := a2.next(t, wait); m.Type != proto.TypeAnswer || m.From != "a1" {
		t.Fatalf("a2 got %+v", m)
	}
	// Unknown targets are reported, never dropped silently.
	for _, tc := range []struct{ room, to string }{{"r", "nobody"}, {"elsewhere", "b1"}} {
		if err := a.Send(ctx, tc.room, tc.to, []byte(`{}`)); !errors.Is(err, signal.ErrUnknownPeer) {
			t.Fatalf("send to %s in %s: %v, want ErrUnknownPeer", tc.to, tc.room, err)
		}
	}
	a1.expectQuiet(t, 100*time.Millisecond)
}

func TestBroadcastAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newNode(t, srv, "A", 0), newNode(t, srv, "B", 0)
	sinks := map[string]*testSink{
		"a1": join(t, a, "r", "a1", ""),
		"a2": join(t, a, "r", "a2", "a1"),
		"b1": join(t, b, "r", "b1", "a1,a2"),
		"b2": join(t, b, "r", "b2", "a1,a2,b1"),
	}
	drain := map[string]int{"a1": 3, "a2": 2, "b1": 1}
	for id, k := range drain {
		for range k {
			if m := sinks[id].next(t, wait); m.Type != proto.TypePeerJoined {
				t.Fatalf("%s got %s", id, m.Type)
			}
		}
	}
	frame := []byte(`{"type":"bye","code":"test"}`)
	if err := a.Broadcast(context.Background(), "r", "a1", frame); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a2", "b1", "b2"} {
		if m := sinks[id].next(t, wait); m.Type != proto.TypeBye || m.Code != "test" {
			t.Fatalf("%s got %+v", id, m)
		}
	}
	for _, s := range sinks {
		s.expectQuiet(t, 100*time.Millisecond)
	}
}

func TestCapacityRaceAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	nodes := []*Backend{newNode(t, srv, "A", 0), newNode(t, srv, "B", 0)}
	const joins, capacity = 20, 8
	var wg sync.WaitGroup
	errs := make([]error, joins)
	start := make(chan struct{})
	for i := range joins {
		wg.Go(func() {
			<-start
			_, errs[i] = nodes[i%2].Join(context.Background(), "r", peerInfo(fmt.Sprintf("p%02d", i)), capacity, newSink())
		})
	}
	close(start)
	wg.Wait()
	admitted, full := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			admitted++
		case errors.Is(err, signal.ErrRoomFull):
			full++
		default:
			t.Fatalf("join %d: %v", i, err)
		}
	}
	if admitted != capacity || full != joins-capacity {
		t.Fatalf("admitted %d, refused %d; want %d and %d", admitted, full, capacity, joins-capacity)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	if n, err := c.HLen(context.Background(), membersKey("r")).Result(); err != nil || n != capacity {
		t.Fatalf("members hash has %d entries (%v), want %d", n, err, capacity)
	}
}

func TestDeadNodeIsReaped(t *testing.T) {
	srv := redistest.Start(t)
	const ttl = 2 * time.Second
	a, b := newNode(t, srv, "A", ttl), newNode(t, srv, "B", ttl)
	a1 := join(t, a, "r", "a1", "")
	join(t, b, "r", "b1", "a1")
	join(t, b, "r", "b2", "a1,b1")
	a1.expectMember(t, proto.TypePeerJoined, "b1", wait)
	a1.expectMember(t, proto.TypePeerJoined, "b2", wait)

	b.crash()
	died := time.Now()
	// Until survivors reap it, sends to its peers fail: nobody is subscribed.
	var err error
	for err == nil && time.Since(died) < wait {
		err = a.Send(context.Background(), "r", "b1", []byte(`{}`))
	}
	if !isUnavailable(err) {
		t.Fatalf("send to a peer of a dead node: %v, want ErrUnavailable", err)
	}
	left := map[string]bool{}
	for range 2 {
		m := a1.next(t, 30*time.Second)
		if m.Type != proto.TypePeerLeft || m.Peer == nil {
			t.Fatalf("a1 got %+v, want peer-left", m)
		}
		left[m.Peer.ID] = true
	}
	if !left["b1"] || !left["b2"] {
		t.Fatalf("peer-left for %v, want b1 and b2", left)
	}
	t.Logf("peer-left for the dead node's peers after %v (TTL %v)", time.Since(died), ttl)
	if err := a.Send(context.Background(), "r", "b1", []byte(`{}`)); !errors.Is(err, signal.ErrUnknownPeer) {
		t.Fatalf("send to a reaped peer: %v, want ErrUnknownPeer", err)
	}
	join(t, a, "r", "a2", "a1")
	a1.expectMember(t, proto.TypePeerJoined, "a2", wait)
	a1.expectQuiet(t, 200*time.Millisecond)
}

func TestCloseAnnouncesAtOnce(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newNode(t, srv, "A", 0), newNode(t, srv, "B", 0)
	a1 := join(t, a, "r", "a1", "")
	join(t, b, "r", "b1", "a1")
	a1.expectMember(t, proto.TypePeerJoined, "b1", wait)
	start := time.Now()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	a1.expectMember(t, proto.TypePeerLeft, "b1", time.Second)
	t.Logf("peer-left %v after Close", time.Since(start))
	if err := b.Ready(context.Background()); !isUnavailable(err) {
		t.Fatalf("Ready after Close: %v", err)
	}
	if _, err := b.Join(context.Background(), "r", peerInfo("b9"), 8, newSink()); !isUnavailable(err) {
		t.Fatalf("Join after Close: %v", err)
	}
	join(t, a, "r", "a2", "a1")
}

func TestRedisOutageAndRecovery(t *testing.T) {
	srv := redistest.Start(t)
	const ttl = 2 * time.Second
	a, b := newNode(t, srv, "A", ttl), newNode(t, srv, "B", ttl)
	a1, a2, b1 := joinThree(t, a, b)
	ctx := context.Background()

	srv.Kill()
	for _, n := range []*Backend{a, b} {
		start := time.Now()
		_, err := n.Join(ctx, "r", peerInfo("late-"+n.NodeID()), 8, newSink())
		if !isUnavailable(err) || time.Since(start) > 5*time.Second {
			t.Fatalf("join on %s during the outage: %v after %v", n.NodeID(), err, time.Since(start))
		}
		t.Logf("join on %s failed after %v: %v", n.NodeID(), time.Since(start), err)
		waitUnready(t, n)
	}
	if err := a.Send(ctx, "r", "b1", []byte(`{}`)); !isUnavailable(err) {
		t.Fatalf("remote send during the outage: %v", err)
	}
	if err := a.Send(ctx, "r", "a2", []byte(`{"type":"offer","from":"a1","sdp":"x"}`)); err != nil {
		t.Fatalf("local send during the outage: %v", err)
	}
	a2.next(t, wait)
	// a2 leaves while Redis is down: its neighbour on A learns at once.
	if err := a.Leave(ctx, "r", "a2"); !isUnavailable(err) {
		t.Fatalf("leave during the outage: %v", err)
	}
	a1.expectMember(t, proto.TypePeerLeft, "a2", wait)

	srv.Restart() // same port, no data
	for _, n := range []*Backend{a, b} {
		t.Logf("%s ready again %v after restart", n.NodeID(), waitReady(t, n, 15*time.Second))
	}
	// b1 learns that a2 left; nobody hears of a peer twice or of ghosts.
	b1.expectMember(t, proto.TypePeerLeft, "a2", wait)
	joinEventually(t, b, "r", "b2", "a1,b1")
	joinEventually(t, a, "r", "a3", "a1,b1,b2")
	a1.expectMember(t, proto.TypePeerJoined, "b2", wait)
	a1.expectMember(t, proto.TypePeerJoined, "a3", wait)
	b1.expectMember(t, proto.TypePeerJoined, "b2", wait)
	b1.expectMember(t, proto.TypePeerJoined, "a3", wait)
	// After the roster recheck (PresenceTTL later) still nothing changes.
	a1.expectQuiet(t, ttl+ttl/2)
	b1.expectQuiet(t, 100*time.Millisecond)
	if err := b.Send(ctx, "r", "a1", []byte(`{"type":"offer","from":"b1","sdp":"z"}`)); err != nil {
		t.Fatalf("send after recovery: %v", err)
	}
	if m := a1.next(t, wait); m.From != "b1" {
		t.Fatalf("a1 got %+v", m)
	}
}

func TestRedisHangFailsFast(t *testing.T) {
	srv := redistest.Start(t)
	a := newNode(t, srv, "A", 0)
	a1 := join(t, a, "r", "a1", "")
	srv.Pause()
	defer srv.Resume()
	start := time.Now()
	_, err := a.Join(context.Background(), "r", peerInfo("a2"), 8, newSink())
	if !isUnavailable(err) || time.Since(start) > 5*time.Second {
		t.Fatalf("join while redis hangs: %v after %v", err, time.Since(start))
	}
	t.Logf("join failed after %v: %v", time.Since(start), err)
	if err := a.Ready(context.Background()); !isUnavailable(err) {
		t.Fatalf("Ready while redis hangs: %v", err)
	}
	srv.Resume()
	waitReady(t, a, 15*time.Second)
	joinEventually(t, a, "r", "a3", "a1")
	// The failed join may have been admitted by Redis once it resumed;
	// then a1 hears of a2 and of its removal, and nothing else.
	seen := map[string]int{}
	for {
		m := a1.next(t, wait)
		if m.Peer == nil {
			t.Fatalf("a1 got %+v", m)
		}
		if m.Peer.ID == "a3" && m.Type == proto.TypePeerJoined {
			break
		}
		seen[m.Type+" "+m.Peer.ID]++
	}
	if j, l := seen["peer-joined a2"], seen["peer-left a2"]; j != l || len(seen) > 2 {
		t.Fatalf("a1 heard %v before a3 joined", seen)
	}
	a1.expectQuiet(t, 100*time.Millisecond)
	t.Logf("a1 heard %v about the failed join", seen)
}

// joinEventually retries a join while it fails with ErrUnavailable (right
// after Redis recovers a node may still be resynchronising) and wants the
// roster wantRoster, in id order.
func joinEventually(t *testing.T, b *Backend, room, id, wantRoster string) *testSink {
	t.Helper()
	start := time.Now()
	for {
		s := newSink()
		peers, err := b.Join(context.Background(), room, peerInfo(id), 8, s)
		switch {
		case err == nil:
			// Re-registration after Redis lost its data may change the
			// join order, so the roster is compared as a set.
			slices.SortFunc(peers, func(x, y proto.PeerInfo) int { return strings.Compare(x.ID, y.ID) })
			if got := ids(peers); got != wantRoster {
				t.Fatalf("join %s on %s: roster %q, want %q", id, b.NodeID(), got, wantRoster)
			}
			return s
		case !isUnavailable(err) || time.Since(start) > 15*time.Second:
			t.Fatalf("join %s on %s: %v", id, b.NodeID(), err)
		}
		time.Sleep(50 * time.Millisecond) // polling an external condition
	}
}

// waitUnready polls Ready until it fails.
func waitUnready(t *testing.T, b *Backend) {
	t.Helper()
	start := time.Now()
	for b.Ready(context.Background()) == nil {
		if time.Since(start) > wait {
			t.Fatalf("%s still ready %v into the outage", b.NodeID(), wait)
		}
		time.Sleep(20 * time.Millisecond) // polling an external condition
	}
}

func TestReapedNodeComesBack(t *testing.T) {
	srv := redistest.Start(t)
	const ttl = 2 * time.Second
	a, b := newNode(t, srv, "A", ttl), newNode(t, srv, "B", ttl)
	a1 := join(t, a, "r", "a1", "")
	b1 := join(t, b, "r", "b1", "a1")
	a1.expectMember(t, proto.TypePeerJoined, "b1", wait)

	// B's presence lapses (as in a long pause) while B itself is fine.
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	// A reaps B's peers in the same transaction, so B's next beat cannot
	// refresh the key first (two heartbeat tickers race otherwise); B notices
	// on that beat and registers them again, so a1 hears b1 leave and come
	// back, and b1 hears nothing.
	tx := c.TxPipeline()
	tx.Del(context.Background(), aliveKey("B"))
	reaped := reapScript.Eval(context.Background(), tx, nil, prefix, a.NodeID())
	if _, err := tx.Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r, err := reaped.StringSlice(); err != nil || !slices.Equal(r, []string{"B"}) {
		t.Fatalf("reap as A: %v, %v; want [B]", r, err)
	}
	a1.expectMember(t, proto.TypePeerLeft, "b1", 10*time.Second)
	a1.expectMember(t, proto.TypePeerJoined, "b1", 10*time.Second)
	joinEventually(t, a, "r", "a2", "a1,b1")
	b1.expectMember(t, proto.TypePeerJoined, "a2", wait)
	b1.expectQuiet(t, 200*time.Millisecond)
	if err := a.Send(context.Background(), "r", "b1", []byte(`{"type":"offer","from":"a1","sdp":"s"}`)); err != nil {
		t.Fatal(err)
	}
	if m := b1.next(t, wait); m.From != "a1" {
		t.Fatalf("b1 got %+v", m)
	}
}
