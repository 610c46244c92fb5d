package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/internal/redistest"
	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/signal/proto"
)

// The tests in this file run two or more `videochat serve --redis`
// processes sharing one real redis-server, as issue 4 asks.

// TestRedisBrowserAndNative: a Chromium page on server A and a native peer
// on server B, in one room through Redis, see each other's live video.
func TestRedisBrowserAndNative(t *testing.T) {
	browsertest.Require(t)
	redis := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, urlA := startRedisServer(ctx, t, redis.Addr())
	_, urlB := startRedisServer(ctx, t, redis.Addr())

	stats := filepath.Join(t.TempDir(), "robot.jsonl")
	start(t, joinArgs(urlB, "r", "robot", "--video", "test", "--audio", "test", "--stats-json", stats)...)
	pg := browsertest.Launch(t, browsertest.Options{Name: "alice"})
	pg.Navigate(urlA + "/room/r?name=alice")

	sel, id := tileOf(pg, "robot") // on A
	pg.WaitFramesDecoded(id, 30)
	n, err := pg.FramesDecoded(id)
	if err != nil || n <= 30 {
		t.Fatalf("alice decoded %d frames from robot (%v), want > 30", n, err)
	}
	luma := pg.WaitNonBlack(sel)

	s := waitStats(ctx, t, stats, func(s peer.Snapshot) bool {
		p, ok := statsFor(s, "alice")
		return ok && p.Video.FramesReceived >= 30
	})
	p, _ := statsFor(s, "alice")
	t.Logf("alice (on A) decoded %d frames from robot (on B), luma stddev %.1f; robot received %d frames from alice",
		n, luma, p.Video.FramesReceived)
}

// statsFor returns the stats of the remote peer called name.
func statsFor(s peer.Snapshot, name string) (peer.PeerStats, bool) {
	for _, p := range s.Peers {
		if p.Name == name {
			return p, true
		}
	}
	return peer.PeerStats{}, false
}

// TestRedisKillServer: kill -9 of server B mid-call. An observer on A gets
// peer-left for B's peer within 30 s (the default presence TTL is 15 s),
// and the call between two native peers on A keeps its media.
func TestRedisKillServer(t *testing.T) {
	redis := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, urlA := startRedisServer(ctx, t, redis.Addr())
	procB, urlB := startRedisServer(ctx, t, redis.Addr())

	obs, _ := mustJoin(ctx, t, urlA, "k", "observer")
	dir := t.TempDir()
	statsA1 := filepath.Join(dir, "a1.jsonl")
	media := []string{"--video", "test", "--audio", "none"}
	start(t, joinArgs(urlA, "k", "a1", append(media, "--stats-json", statsA1)...)...)
	start(t, joinArgs(urlA, "k", "a2", media...)...)
	start(t, joinArgs(urlB, "k", "b1", media...)...)
	ids := map[string]string{}
	for len(ids) < 3 {
		m := obs.next(ctx, proto.TypePeerJoined, nil)
		ids[m.Peer.Name] = m.Peer.ID
	}
	// The call is up: a1 gets video from a2 (same server) and b1 (through Redis).
	waitStats(ctx, t, statsA1, func(s peer.Snapshot) bool {
		return framesFrom(s, "a2") >= 30 && framesFrom(s, "b1") >= 30
	})

	before := framesFrom(mustLastSnapshot(t, statsA1), "a2")
	if err := procB.c.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	left := obs.next(ctx, proto.TypePeerLeft, nil)
	took := time.Since(killed)
	if left.Peer == nil || left.Peer.ID != ids["b1"] {
		t.Fatalf("peer-left for %+v, want b1 (%s)", left.Peer, ids["b1"])
	}
	t.Logf("kill -9 of server B → peer-left for b1 on A after %v", took.Round(time.Millisecond))
	if took > 30*time.Second {
		t.Errorf("peer-left after %v, want within 30 s", took)
	}

	// Media between a1 and a2 went on through the outage of B: at 30 fps,
	// the frames received since the kill are well above 30.
	s := waitStats(ctx, t, statsA1, func(s peer.Snapshot) bool {
		return framesFrom(s, "a2") >= before+30 && s.Time.After(killed.Add(took))
	})
	t.Logf("a1 received %d more frames from a2 after the kill (%d → %d)",
		framesFrom(s, "a2")-before, before, framesFrom(s, "a2"))
}

// framesFrom returns the video frames received from the peer called name.
func framesFrom(s peer.Snapshot, name string) uint64 {
	p, _ := statsFor(s, name)
	return p.Video.FramesReceived
}

func mustLastSnapshot(t *testing.T, path string) peer.Snapshot {
	t.Helper()
	s, err := peer.LastSnapshot(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return s
}

// TestRedisOutage: the link from both servers to Redis breaks (the
// proxy resets or swallows it, or redis-server is killed and restarted
// without its data) and comes back. Meanwhile joins fail within 5 s with
// "unavailable", /readyz says 503, and a peer that leaves is forgotten;
// afterwards /readyz says 200, new peers on either server get exactly the
// right roster and the peers that stayed saw each change exactly once.
func TestRedisOutage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		restart bool      // kill redis-server and start a fresh one
		mode    proxyMode // otherwise: cut the proxy
		// hold is the least length of the outage.
		hold time.Duration
		// settle is how long the views must then stay unchanged. After a
		// restart without data, servers recheck rosters 4/3 of the
		// presence TTL (15 s) after resynchronising: no late peer-left.
		settle time.Duration
	}{
		{name: "proxy-reset", mode: proxyReset, hold: 3 * time.Second},
		{name: "proxy-blackhole", mode: proxyBlackhole},
		{name: "redis-restart", restart: true, hold: 3 * time.Second, settle: 25 * time.Second},
		// Longer than the presence TTL (15 s): both servers' presence
		// keys expire while Redis keeps the rooms.
		{name: "proxy-reset-past-ttl", mode: proxyReset, hold: 20 * time.Second, settle: 25 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			redis := redistest.Start(t)
			proxy := startProxy(t, redis.Addr())
			cut := func() { proxy.cut(tc.mode) }
			restore := proxy.restore
			if tc.restart {
				cut, restore = redis.Kill, redis.Restart
			}
			testOutage(t, proxy.addr(), cut, restore, tc.hold, tc.settle)
		})
	}
}

func testOutage(t *testing.T, redisAddr string, cut, restore func(), hold, settle time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, urlA := startRedisServer(ctx, t, redisAddr)
	_, urlB := startRedisServer(ctx, t, redisAddr)
	urls := map[string]string{"A": urlA, "B": urlB}

	stayA, wa := mustJoin(ctx, t, urlA, "o", "stay-a")
	stayB, wb := mustJoin(ctx, t, urlB, "o", "stay-b")
	goneB, _ := mustJoin(ctx, t, urlB, "o", "gone-b")
	views := map[string]*roster{"stay-a": newRoster(wa), "stay-b": newRoster(wb)}
	views["stay-a"].expect(ctx, t, stayA, "stay-b", "gone-b")
	views["stay-b"].expect(ctx, t, stayB, "stay-a", "gone-b")

	cut()
	cutAt := time.Now()
	joinsFail(ctx, t, urls, "right after the cut")
	goneB.close() // leaves during the outage, without a leave message
	for srv, u := range urls {
		waitStatus(ctx, t, u, "/readyz", http.StatusServiceUnavailable)
		t.Logf("/readyz on %s: 503 by %v after the cut", srv, time.Since(cutAt).Round(time.Millisecond))
	}
	joinsFail(ctx, t, urls, "once /readyz said 503")
	relayFails(ctx, t, stayA, wb.ID, views["stay-a"])
	if rest := time.Until(cutAt.Add(hold)); rest > 0 {
		time.Sleep(rest) // the outage lasts hold
	}
	t.Logf("outage: %v", time.Since(cutAt).Round(time.Millisecond))

	restore()
	restoredAt := time.Now()
	for srv, u := range urls {
		waitStatus(ctx, t, u, "/readyz", 200)
		t.Logf("/readyz on %s: 200 again by %v after the restore", srv, time.Since(restoredAt).Round(time.Millisecond))
	}
	// gone-b's departure reaches stay-a through the resynchronisation.
	views["stay-a"].expect(ctx, t, stayA, "stay-b")
	views["stay-b"].expect(ctx, t, stayB, "stay-a")
	t.Logf("stay-a has seen gone-b leave by %v after the restore", time.Since(restoredAt).Round(time.Millisecond))

	_, wa = mustJoin(ctx, t, urlA, "o", "new-a")
	checkWelcome(t, wa, "stay-a", "stay-b")
	_, wb = mustJoin(ctx, t, urlB, "o", "new-b")
	checkWelcome(t, wb, "stay-a", "stay-b", "new-a")
	views["stay-a"].expect(ctx, t, stayA, "stay-b", "new-a", "new-b")
	views["stay-b"].expect(ctx, t, stayB, "stay-a", "new-a", "new-b")
	if settle > 0 {
		time.Sleep(settle) // watching for late announcements, not waiting for one
		views["stay-a"].drain(t, stayA)
		views["stay-b"].drain(t, stayB)
	}
	for name, v := range views {
		if err := v.err(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		t.Logf("%s saw: %s", name, strings.Join(v.log, ", "))
	}
}

// joinsFail requires a join on each server to fail within 5 s with
// "unavailable".
func joinsFail(ctx context.Context, t *testing.T, urls map[string]string, when string) {
	t.Helper()
	for _, srv := range slices.Sorted(maps.Keys(urls)) {
		began := time.Now()
		p, m := joinPeer(ctx, t, urls[srv], "o", "during-"+srv)
		took := time.Since(began)
		p.close()
		if m.Type != proto.TypeError || m.Code != proto.CodeUnavailable {
			t.Fatalf("join on %s %s: got %s %q (%s), want error %q", srv, when, m.Type, m.Code, m.Message, proto.CodeUnavailable)
		}
		t.Logf("join on %s %s failed with %q in %v", srv, when, m.Code, took.Round(time.Millisecond))
		if took > 5*time.Second {
			t.Errorf("join on %s %s took %v to fail, want within 5 s", srv, when, took)
		}
	}
}

// relayFails requires a candidate from p to a peer on another server to be
// answered with an "unavailable" error while Redis is unreachable: no
// silent drop.
func relayFails(ctx context.Context, t *testing.T, p *wsPeer, to string, view *roster) {
	t.Helper()
	began := time.Now()
	if err := p.send(proto.Message{Type: proto.TypeCandidate, To: to, Candidate: &proto.ICECandidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"}}); err != nil {
		t.Fatal(err)
	}
	m := p.next(ctx, proto.TypeError, view.apply)
	if m.Code != proto.CodeUnavailable || m.Ref != proto.TypeCandidate || m.To != to {
		t.Errorf("candidate during the outage: error %+v, want code %q ref %q to %q", m, proto.CodeUnavailable, proto.TypeCandidate, to)
	}
	t.Logf("candidate to a peer on the other server during the outage: error %q in %v", m.Code, time.Since(began).Round(time.Millisecond))
}

// checkWelcome requires a welcome listing exactly the peers called names.
func checkWelcome(t *testing.T, w proto.Message, names ...string) {
	t.Helper()
	var got []string
	for _, p := range w.Peers {
		got = append(got, p.Name)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(names))
	if !slices.Equal(got, want) {
		t.Errorf("welcome roster %v, want %v (no ghosts, no duplicates)", got, want)
	}
}

// roster is one peer's view of its room, built from its welcome, then
// peer-joined and peer-left. It records announcements that contradict the view: a
// peer-joined for a known peer, a peer-left for an unknown one.
type roster struct {
	names map[string]string // id → name
	log   []string
	bad   []string
}

func newRoster(welcome proto.Message) *roster {
	r := &roster{names: map[string]string{}}
	for _, p := range welcome.Peers {
		r.names[p.ID] = p.Name
	}
	return r
}

func (r *roster) apply(m proto.Message) {
	if m.Peer == nil {
		return
	}
	switch m.Type {
	case proto.TypePeerJoined:
		r.log = append(r.log, "+"+m.Peer.Name)
		if _, dup := r.names[m.Peer.ID]; dup {
			r.bad = append(r.bad, "duplicate peer-joined for "+m.Peer.Name)
		}
		r.names[m.Peer.ID] = m.Peer.Name
	case proto.TypePeerLeft:
		r.log = append(r.log, "-"+m.Peer.Name)
		if _, ok := r.names[m.Peer.ID]; !ok {
			r.bad = append(r.bad, "peer-left for unknown "+m.Peer.Name)
		}
		delete(r.names, m.Peer.ID)
	}
}

// current lists the names in the view, sorted.
func (r *roster) current() []string {
	out := make([]string, 0, len(r.names))
	for _, n := range r.names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// expect applies p's messages until the view is exactly names.
func (r *roster) expect(ctx context.Context, t *testing.T, p *wsPeer, names ...string) {
	t.Helper()
	want := slices.Sorted(slices.Values(names))
	for !slices.Equal(r.current(), want) {
		select {
		case m, ok := <-p.msgs:
			if !ok {
				t.Fatalf("%s: connection closed; view %v, want %v", p.name, r.current(), want)
			}
			r.apply(m)
		case <-ctx.Done():
			t.Fatalf("%s: view %v, want %v (saw %s)", p.name, r.current(), want, strings.Join(r.log, ", "))
		}
	}
}

// drain applies the messages p has received so far, without waiting, and
// reports each as unexpected.
func (r *roster) drain(t *testing.T, p *wsPeer) {
	t.Helper()
	for {
		select {
		case m, ok := <-p.msgs:
			if !ok {
				t.Fatalf("%s: connection closed", p.name)
			}
			r.apply(m)
			t.Errorf("%s: unexpected %s %+v while the room was quiet", p.name, m.Type, m.Peer)
		default:
			return
		}
	}
}

func (r *roster) err() error {
	if len(r.bad) == 0 {
		return nil
	}
	return fmt.Errorf("contradictory announcements: %s", strings.Join(r.bad, "; "))
}

// TestRedisCapacityRace: 20 simultaneous joins, half through each of two
// servers, to a room of capacity 8 admit exactly 8; the other 12 get
// room-full. Three rounds, in three rooms.
func TestRedisCapacityRace(t *testing.T) {
	const capacity, joiners = 8, 20
	redis := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	maxPeers := strconv.Itoa(capacity)
	_, urlA := startRedisServer(ctx, t, redis.Addr(), "--max-peers", maxPeers)
	_, urlB := startRedisServer(ctx, t, redis.Addr(), "--max-peers", maxPeers)
	for round := range 3 {
		room := fmt.Sprintf("race%d", round)
		peers := make([]*wsPeer, joiners)
		for i := range peers {
			base := urlA
			if i%2 == 1 {
				base = urlB
			}
			peers[i] = dialPeer(ctx, t, base, room, fmt.Sprintf("p%02d", i))
		}
		answers := joinAll(ctx, t, peers)
		counts := map[string]int{}
		perServer := [2]int{}
		for i, m := range answers {
			key := m.Type
			if m.Type == proto.TypeError {
				key += ":" + m.Code
			}
			counts[key]++
			if m.Type == proto.TypeWelcome {
				perServer[i%2]++
			}
		}
		t.Logf("round %d: %v (admitted via A: %d, via B: %d)", round, counts, perServer[0], perServer[1])
		if counts[proto.TypeWelcome] != capacity || counts[proto.TypeError+":"+proto.CodeRoomFull] != joiners-capacity {
			t.Errorf("round %d: %v, want %d welcome and %d room-full", round, counts, capacity, joiners-capacity)
		}
		for _, p := range peers {
			p.close()
		}
	}
}

// joinAll sends every peer's join at once and returns each one's first
// answer.
func joinAll(ctx context.Context, t *testing.T, peers []*wsPeer) []proto.Message {
	t.Helper()
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for _, p := range peers {
		wg.Go(func() {
			<-gate
			_ = p.send(proto.Message{Type: proto.TypeJoin, Version: proto.Version, Name: p.name})
		})
	}
	close(gate)
	wg.Wait()
	answers := make([]proto.Message, len(peers))
	for i, p := range peers {
		answers[i] = p.first(ctx)
	}
	return answers
}
