package peer_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/signal/proto"
)

// downFor is how long the signalling server stays down in the server-death
// tests: more than the 5 s the issue names.
const downFor = 6 * time.Second

// link is the media that runner r receives from peer id.
type link struct {
	r  *runner
	id string
}

func (l link) String() string { return l.r.name + "←" + l.id }

// frameWatch samples the video frame counters of some links once a second
// and records every second in which one did not rise, and every sample at
// which a runner did not have exactly want connections (want < 0: not
// checked).
type frameWatch struct {
	links []link
	want  int
	stop  chan struct{}
	done  chan struct{}

	mu      sync.Mutex
	samples int
	stalls  []string
}

func watchFrames(links []link, want int) *frameWatch {
	w := &frameWatch{links: links, want: want, stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w
}

func (w *frameWatch) loop() {
	defer close(w.done)
	last := w.frames()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
		now := w.frames()
		w.mu.Lock()
		w.samples++
		for i, l := range w.links {
			if now[i] <= last[i] {
				w.stalls = append(w.stalls, fmt.Sprintf("sample %d: %s stalled at %d frames", w.samples, l, now[i]))
			}
			if n := len(l.r.Stats().Peers); w.want >= 0 && n != w.want {
				w.stalls = append(w.stalls, fmt.Sprintf("sample %d: %s has %d connections, want %d", w.samples, l.r.name, n, w.want))
			}
		}
		w.mu.Unlock()
		last = now
	}
}

func (w *frameWatch) frames() []uint64 {
	out := make([]uint64, len(w.links))
	for i, l := range w.links {
		ps, _ := peerStats(l.r, l.id)
		out[i] = ps.Video.FramesReceived
	}
	return out
}

func (w *frameWatch) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.samples
}

// waitSamples waits until n more samples were taken.
func (w *frameWatch) waitSamples(t *testing.T, n int) {
	t.Helper()
	target := w.count() + n
	waitFor(t, fmt.Sprintf("%d frame samples", n), func() error {
		if c := w.count(); c < target {
			return fmt.Errorf("%d samples", c)
		}
		return nil
	})
}

// finish stops the watch and fails t for every stall it saw.
func (w *frameWatch) finish(t *testing.T) int {
	t.Helper()
	close(w.stop)
	<-w.done
	for _, s := range w.stalls {
		t.Error(s)
	}
	return w.samples
}

// waitEvent waits until r has emitted at least n events of kind.
func waitEvent(t *testing.T, r *runner, kind peer.EventKind, n int) peer.Event {
	t.Helper()
	var ev peer.Event
	waitFor(t, fmt.Sprintf("%s: %d %s event(s)", r.name, n, kind), func() error {
		es := r.eventsOf(kind)
		if len(es) < n {
			return fmt.Errorf("%d so far", len(es))
		}
		ev = es[n-1]
		return nil
	})
	return ev
}

// roomEvents counts r's peer-joined and peer-left events.
func roomEvents(r *runner) (joined, left int) {
	return len(r.eventsOf(peer.EventPeerJoined)), len(r.eventsOf(peer.EventPeerLeft))
}

// negotiations returns r's completed offer/answer rounds with id.
func negotiations(r *runner, id string) int64 {
	ps, _ := peerStats(r, id)
	return ps.Negotiations
}

// TestResumeAfterDrop cuts alice's signalling WebSocket mid-call: she
// reconnects within the server's grace period and keeps her id; bob sees
// no leave and no join; media never stops; signalling works afterwards.
func TestResumeAfterDrop(t *testing.T) {
	server := startServer(t)
	alice, bob, aliceID, bobID := pair(t, server, "resume")
	bobJoined, bobLeft := roomEvents(bob)
	w := watchFrames([]link{{alice, bobID}, {bob, aliceID}}, 1)
	w.waitSamples(t, 1)

	cut := time.Now()
	if !alice.DropSignalling() {
		t.Fatal("alice had no signalling connection to drop")
	}
	rec := waitEvent(t, alice, peer.EventReconnecting, 1)
	if !errors.Is(rec.Err, peer.ErrSignallingLost) {
		t.Errorf("reconnecting event error %v, want ErrSignallingLost", rec.Err)
	}
	res := waitEvent(t, alice, peer.EventResumed, 1)
	t.Logf("alice resumed %.0f ms after the drop", res.Time.Sub(cut).Seconds()*1000)
	if res.Peer.ID != aliceID || alice.Self().ID != aliceID {
		t.Errorf("alice resumed as %q (Self %q), want her id %q", res.Peer.ID, alice.Self().ID, aliceID)
	}
	w.waitSamples(t, 3)

	// Signalling works in both directions after the resume: a forced
	// renegotiation from alice completes on both sides.
	a0, b0 := negotiations(alice, bobID), negotiations(bob, aliceID)
	if err := alice.Renegotiate(bobID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "renegotiation after resume", func() error {
		a, b := negotiations(alice, bobID), negotiations(bob, aliceID)
		if a <= a0 || b <= b0 {
			return fmt.Errorf("rounds alice %d→%d, bob %d→%d", a0, a, b0, b)
		}
		return nil
	})
	samples := w.finish(t)
	t.Logf("%d one-second samples, frames rose in each", samples)

	if j, l := roomEvents(bob); j != bobJoined || l != bobLeft {
		t.Errorf("bob saw %d peer-joined and %d peer-left events during alice's resume", j-bobJoined, l-bobLeft)
	}
	if _, l := roomEvents(alice); l != 0 {
		t.Errorf("alice emitted %d peer-left events", l)
	}
	if n := len(alice.eventsOf(peer.EventRejoined)); n != 0 {
		t.Errorf("alice rejoined %d times, want a resume", n)
	}
}

// TestServerRestartKeepsCall kills the signalling server mid-call: media
// keeps flowing for the whole outage, Run keeps running, chat works; a new
// server with the same resume secret on the same address takes both peers
// back under their ids, with one connection each (no duplicates), and an
// offer made during the outage is delivered then.
func TestServerRestartKeepsCall(t *testing.T) {
	secret := []byte("resume secret shared by both servers")
	s1 := startSignal(t, signal.Config{ResumeSecret: secret}, "")
	alice, bob, aliceID, bobID := pair(t, s1.URL, "restart")
	aliceJoined, _ := roomEvents(alice)
	bobJoined, _ := roomEvents(bob)
	w := watchFrames([]link{{alice, bobID}, {bob, aliceID}}, 1)
	w.waitSamples(t, 1)

	s1.Stop()
	down := time.Now()
	for _, r := range []*runner{alice, bob} {
		waitEvent(t, r, peer.EventReconnecting, 1)
	}
	// An offer made while signalling is down waits in the queue.
	a0, b0 := negotiations(alice, bobID), negotiations(bob, aliceID)
	if err := alice.Renegotiate(bobID); err != nil {
		t.Fatal(err)
	}
	// Chat is peer to peer too.
	waitFor(t, "chat while the server is down", func() error { return bob.SendChat("still here") })
	waitFor(t, "chat delivered", func() error {
		if !slices.Contains(alice.chatLines(), "[bob] still here") {
			return errors.New("not yet")
		}
		return nil
	})
	time.Sleep(time.Until(down.Add(downFor))) // the outage itself, not a synchronisation
	for _, r := range []*runner{alice, bob} {
		if !r.running() {
			t.Fatalf("%s: Run returned while the server was down: %v", r.name, r.err)
		}
	}
	if n := negotiations(bob, aliceID); n != b0 {
		t.Errorf("bob completed %d negotiations while the server was down", n-b0)
	}
	t.Logf("server down for %.1f s; %d samples so far", time.Since(down).Seconds(), w.count())

	s2 := startSignal(t, signal.Config{ResumeSecret: secret}, s1.Addr)
	up := time.Now()
	for _, c := range []struct {
		r  *runner
		id string
	}{{alice, aliceID}, {bob, bobID}} {
		ev := waitEvent(t, c.r, peer.EventResumed, 1)
		t.Logf("%s resumed %.0f ms after the new server started", c.r.name, ev.Time.Sub(up).Seconds()*1000)
		if ev.Peer.ID != c.id || c.r.Self().ID != c.id {
			t.Errorf("%s resumed as %q, want %q", c.r.name, ev.Peer.ID, c.id)
		}
	}
	waitFor(t, "the offer queued during the outage is answered", func() error {
		a, b := negotiations(alice, bobID), negotiations(bob, aliceID)
		if a <= a0 || b <= b0 {
			return fmt.Errorf("rounds alice %d→%d, bob %d→%d", a0, a, b0, b)
		}
		return nil
	})
	w.waitSamples(t, 3)
	samples := w.finish(t)
	t.Logf("%d one-second samples across the outage, frames rose in each", samples)

	for _, c := range []struct {
		r      *runner
		joined int
	}{{alice, aliceJoined}, {bob, bobJoined}} {
		if j, l := roomEvents(c.r); j != c.joined || l != 0 {
			t.Errorf("%s: %d new peer-joined and %d peer-left events, want none", c.r.name, j-c.joined, l)
		}
		if n := len(c.r.eventsOf(peer.EventRejoined)); n != 0 {
			t.Errorf("%s rejoined %d times, want a resume", c.r.name, n)
		}
	}
	s2.Stop()
}

// TestServerRestartNewSecretRejoins restarts the server with another resume
// secret: the tokens are refused, both peers come back under new ids, drop
// their old connections and build one new connection to each other.
func TestServerRestartNewSecretRejoins(t *testing.T) {
	s1 := startSignal(t, signal.Config{ResumeSecret: []byte("first secret")}, "")
	alice, bob, aliceID, bobID := pair(t, s1.URL, "rejoin")
	s1.Stop()
	for _, r := range []*runner{alice, bob} {
		waitEvent(t, r, peer.EventReconnecting, 1)
	}
	startSignal(t, signal.Config{ResumeSecret: []byte("second secret")}, s1.Addr)
	aliceNew := waitEvent(t, alice, peer.EventRejoined, 1).Peer.ID
	bobNew := waitEvent(t, bob, peer.EventRejoined, 1).Peer.ID
	if aliceNew == aliceID || bobNew == bobID || aliceNew == "" || bobNew == "" {
		t.Fatalf("ids after rejoin: alice %q→%q, bob %q→%q; want new ones", aliceID, aliceNew, bobID, bobNew)
	}
	waitFor(t, "alice receives bob's new id", mediaFrom(alice, bobNew))
	waitFor(t, "bob receives alice's new id", mediaFrom(bob, aliceNew))
	for _, c := range []struct {
		r      *runner
		old    string
		remote string
	}{{alice, bobID, bobNew}, {bob, aliceID, aliceNew}} {
		snap := c.r.Stats()
		if len(snap.Peers) != 1 || snap.Peers[0].ID != c.remote {
			t.Errorf("%s: connections %+v, want exactly one, to %s", c.r.name, snap.Peers, c.remote)
		}
		left := c.r.eventsOf(peer.EventPeerLeft)
		if len(left) != 1 || left[0].Peer.ID != c.old {
			t.Errorf("%s: peer-left events %+v, want one for the old id %s", c.r.name, left, c.old)
		}
	}
}

// TestJoinDuringOutage: the server restarts and carol joins it before
// alice and bob are back. When they resume, carol is in their roster and
// not known to them: the mesh completes (carol offers, as an existing
// peer, to each of them) while alice↔bob never stops.
func TestJoinDuringOutage(t *testing.T) {
	secret := []byte("resume secret")
	s1 := startSignal(t, signal.Config{ResumeSecret: secret}, "")
	alice, bob, aliceID, bobID := pair(t, s1.URL, "late")
	w := watchFrames([]link{{alice, bobID}, {bob, aliceID}}, -1) // connections grow from 1 to 2
	s1.Stop()
	for _, r := range []*runner{alice, bob} {
		waitEvent(t, r, peer.EventReconnecting, 1)
	}
	startSignal(t, signal.Config{ResumeSecret: secret}, s1.Addr)
	carol := startPeer(t, s1.URL, "late", "carol", peerOpts{tracks: newSynthSource(t, "carol").Tracks()})
	carolID := waitWelcome(t, carol)
	waitFor(t, "full mesh", func() error {
		return errors.Join(mediaFrom(alice, carolID)(), mediaFrom(bob, carolID)(),
			mediaFrom(carol, aliceID)(), mediaFrom(carol, bobID)())
	})
	for _, r := range []*runner{alice, bob, carol} {
		if n := len(r.Stats().Peers); n != 2 {
			t.Errorf("%s has %d connections, want 2", r.name, n)
		}
	}
	w.waitSamples(t, 1)
	t.Logf("%d one-second samples, alice↔bob frames rose in each", w.finish(t))
}

// TestGiveUpWithoutServer: with a short ReconnectFor and no server coming
// back, Run returns ErrSignallingLost once that time has passed, not before.
func TestGiveUpWithoutServer(t *testing.T) {
	s := startSignal(t, signal.Config{}, "")
	const giveUp = 2 * time.Second
	solo := startPeer(t, s.URL, "gone", "solo", peerOpts{reconnectFor: giveUp, wantErr: true})
	waitWelcome(t, solo)
	// The peer's ReconnectFor starts when it sees the bye, which can be
	// before stop returns: start the clock before stop.
	start := time.Now()
	// Stop keeps the port reserved (sigtest): another process's server
	// on it would welcome the reconnecting peer back.
	s.Stop()
	select {
	case <-solo.done:
	case <-time.After(waitTimeout):
		solo.mu.Lock()
		defer solo.mu.Unlock()
		t.Fatalf("Run did not give up; events %+v", solo.events)
	}
	took := time.Since(start)
	if !errors.Is(solo.err, peer.ErrSignallingLost) {
		t.Errorf("Run = %v, want ErrSignallingLost", solo.err)
	}
	if took < giveUp {
		t.Errorf("gave up after %v, before ReconnectFor %v", took, giveUp)
	}
	t.Logf("gave up after %v (ReconnectFor %v): %v", took.Round(time.Millisecond), giveUp, solo.err)
	if n := len(solo.eventsOf(peer.EventReconnecting)); n != 1 {
		t.Errorf("%d reconnecting events, want 1", n)
	}
}

// TestNoReconnect: a negative ReconnectFor keeps the old behaviour: a
// dropped connection ends Run with ErrSignallingLost and a server shutdown
// with the bye's coded error.
func TestNoReconnect(t *testing.T) {
	t.Run("drop", func(t *testing.T) {
		server := startServer(t)
		r := startPeer(t, server, "once", "solo", peerOpts{reconnectFor: -1, wantErr: true})
		waitWelcome(t, r)
		r.DropSignalling()
		waitFor(t, "Run returns", func() error {
			if r.running() {
				return errors.New("still running")
			}
			return nil
		})
		if !errors.Is(r.err, peer.ErrSignallingLost) {
			t.Errorf("Run = %v, want ErrSignallingLost", r.err)
		}
	})
	t.Run("bye", func(t *testing.T) {
		s := startSignal(t, signal.Config{}, "")
		r := startPeer(t, s.URL, "once", "solo", peerOpts{reconnectFor: -1, wantErr: true})
		waitWelcome(t, r)
		s.Stop()
		waitFor(t, "Run returns", func() error {
			if r.running() {
				return errors.New("still running")
			}
			return nil
		})
		var perr *proto.Error
		if !errors.As(r.err, &perr) || perr.Code != proto.CodeServerShutdown {
			t.Errorf("Run = %v, want *proto.Error server-shutdown", r.err)
		}
	})
}
