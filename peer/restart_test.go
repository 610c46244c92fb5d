package peer_test

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/videochat/videochat/internal/looptest"
	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/signal/proto"
)

// Short ICE timings for the cut test: pion declares a silent path
// disconnected after 1 s and failed 2 s later; we restart after 1 s of
// disconnection. The product defaults are 5 s / 25 s / 5 s.
const (
	testICEDisconnected = time.Second
	testICEFailed       = 2 * time.Second
	testICEKeepalive    = 200 * time.Millisecond
	testRestartAfter    = time.Second
	// cutFor is how long the media path stays cut: longer than the 5 s
	// the issue names.
	cutFor = 6 * time.Second
)

// lan is a pion virtual network: one router, one address per peer, and a
// switch that drops every packet while the path is cut. Only media (ICE,
// DTLS, SRTP, SCTP) crosses it; signalling stays on the real loopback.
type lan struct {
	router *vnet.Router
	cut    atomic.Bool
}

func newLAN(t *testing.T) *lan {
	t.Helper()
	l := &lan{}
	var err error
	l.router, err = vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", LoggerFactory: quietLogs()})
	if err != nil {
		t.Fatal(err)
	}
	l.router.AddChunkFilter(func(vnet.Chunk) bool { return !l.cut.Load() })
	if err := l.router.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.router.Stop(); err != nil {
			t.Errorf("stop vnet router: %v", err)
		}
	})
	return l
}

func quietLogs() logging.LoggerFactory {
	return &logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled}
}

// api returns a webrtc.API whose PeerConnections live on the virtual
// network at ip, with the short ICE timings.
func (l *lan) api(t *testing.T, ip string) *webrtc.API {
	t.Helper()
	vn, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.router.AddNet(vn); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetNet(vn)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetInterfaceFilter(func(name string) bool { return name == "eth0" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICETimeouts(testICEDisconnected, testICEFailed, testICEKeepalive)
	se.LoggerFactory = quietLogs()
	return looptest.NewAPI(t, nil, se)
}

// TestICERestartRecoversCutPath cuts a live call's media path for longer
// than 5 s and checks that the offering side restarts ICE and the call
// recovers on the same connection: same peer ids, no leave or join.
func TestICERestartRecoversCutPath(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // runs last: after every stop below
	server := startServer(t)
	l := newLAN(t)

	opts := func(name, ip string) peerOpts {
		return peerOpts{tracks: newSynthSource(t, name).Tracks(), api: l.api(t, ip), iceRestartAfter: testRestartAfter}
	}
	// alice is in the room first, so she offers to bob and owns restarts.
	alice := startPeer(t, server, "cut", "alice", opts("alice", "10.0.0.1"))
	aliceID := waitWelcome(t, alice)
	bob := startPeer(t, server, "cut", "bob", opts("bob", "10.0.0.2"))
	bobID := waitWelcome(t, bob)
	waitFor(t, "alice receives bob", mediaFrom(alice, bobID))
	waitFor(t, "bob receives alice", mediaFrom(bob, aliceID))

	a0, _ := peerStats(alice, bobID)
	b0, _ := peerStats(bob, aliceID)
	if a0.RemoteUfrag == "" || b0.RemoteUfrag == "" {
		t.Fatalf("no remote ufrag before the cut: alice %q bob %q", a0.RemoteUfrag, b0.RemoteUfrag)
	}
	if a0.ICERestarts != 0 || b0.ICERestarts != 0 || a0.ICERestartsSent != 0 {
		t.Fatalf("restarts before the cut: alice %d (sent %d), bob %d", a0.ICERestarts, a0.ICERestartsSent, b0.ICERestarts)
	}
	membership := func() string {
		return fmt.Sprintf("alice joined %d left %d, bob joined %d left %d",
			len(alice.eventsOf(peer.EventPeerJoined)), len(alice.eventsOf(peer.EventPeerLeft)),
			len(bob.eventsOf(peer.EventPeerJoined)), len(bob.eventsOf(peer.EventPeerLeft)))
	}
	before := membership()

	cutAt := time.Now()
	l.cut.Store(true)
	waitFor(t, "alice's connection to bob goes disconnected or failed", func() error {
		if _, ok := alice.stateSince(bobID, cutAt, "disconnected", "failed"); !ok {
			return errors.New("still connected")
		}
		return nil
	})
	down, _ := alice.stateSince(bobID, cutAt, "disconnected", "failed")
	t.Logf("cut → alice %s after %v", down.State, down.Time.Sub(cutAt).Round(time.Millisecond))
	framesA, framesB := frameCounts(alice, bob, aliceID, bobID)
	// bob (the answering side) wants to renegotiate while the path is down:
	// he must hold his offer until alice's restart has reconnected them.
	waitFor(t, "bob's connection to alice goes down", func() error {
		if _, ok := bob.stateSince(aliceID, cutAt, "disconnected", "failed"); !ok {
			return errors.New("still connected")
		}
		return nil
	})
	if err := bob.Renegotiate(aliceID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice restarts ICE during the cut", func() error {
		if ps, _ := peerStats(alice, bobID); ps.ICERestartsSent == 0 {
			return errors.New("no restart offer yet")
		}
		return nil
	})
	// Measure, not synchronise: keep the path cut for cutFor in all.
	time.Sleep(time.Until(cutAt.Add(cutFor)))
	if a, b := frameCounts(alice, bob, aliceID, bobID); a != framesA || b != framesB {
		t.Errorf("frames rose during the cut: alice %d→%d, bob %d→%d", framesA, a, framesB, b)
	}
	sentDuringCut := func() int64 { ps, _ := peerStats(alice, bobID); return ps.ICERestartsSent }()

	restoredAt := time.Now()
	l.cut.Store(false)
	var lastLog time.Time
	waitFor(t, "call recovers", func() (err error) {
		defer func() { // progress, for a slow run's log
			if err != nil && time.Since(lastLog) > time.Second {
				lastLog = time.Now()
				t.Logf("%v after restore: %v", time.Since(restoredAt).Round(time.Millisecond), err)
			}
		}()
		a, _ := peerStats(alice, bobID)
		b, _ := peerStats(bob, aliceID)
		fa, fb := frameCounts(alice, bob, aliceID, bobID)
		switch {
		case a.State != "connected" || b.State != "connected":
			return fmt.Errorf("states alice %s bob %s", a.State, b.State)
		case a.ICERestarts < 1 || b.ICERestarts < 1:
			return fmt.Errorf("completed restarts alice %d bob %d", a.ICERestarts, b.ICERestarts)
		case fa < framesA+30 || fb < framesB+30:
			return fmt.Errorf("frames alice %d→%d bob %d→%d", framesA, fa, framesB, fb)
		case b.Negotiations-b0.Negotiations < a.ICERestarts+1 || b.SignalingState != "stable":
			// Every answered restart offer is one round; bob's deferred
			// offer is one more.
			return fmt.Errorf("bob's deferred offer not done: %d rounds for %d restarts, %s",
				b.Negotiations-b0.Negotiations, a.ICERestarts, b.SignalingState)
		}
		return nil
	})
	up, _ := alice.stateSince(bobID, restoredAt, "connected")
	a1, _ := peerStats(alice, bobID)
	b1, _ := peerStats(bob, aliceID)
	t.Logf("restore → alice connected after %v; restart offers: %d during the cut, %d in all; completed restarts alice %d bob %d",
		up.Time.Sub(restoredAt).Round(time.Millisecond), sentDuringCut, a1.ICERestartsSent, a1.ICERestarts, b1.ICERestarts)

	if a1.RemoteUfrag == a0.RemoteUfrag || b1.RemoteUfrag == b0.RemoteUfrag {
		t.Errorf("remote ufrags unchanged: alice sees %q→%q, bob sees %q→%q", a0.RemoteUfrag, a1.RemoteUfrag, b0.RemoteUfrag, b1.RemoteUfrag)
	}
	if b1.ICERestartsSent != 0 || len(bob.eventsOf(peer.EventICERestart)) != 0 {
		t.Errorf("bob (the answering side) initiated %d restarts", b1.ICERestartsSent)
	}
	restarts := alice.eventsOf(peer.EventICERestart)
	if len(restarts) == 0 || int64(len(restarts)) != a1.ICERestartsSent || restarts[0].Peer.ID != bobID {
		t.Errorf("ice-restart events %+v, want %d about bob", restarts, a1.ICERestartsSent)
	} else if r := restarts[0].State; r != "disconnected" && r != "failed" {
		t.Errorf("first restart reason %q, want disconnected or failed", r)
	}
	if alice.Self().ID != aliceID || bob.Self().ID != bobID {
		t.Errorf("ids changed: alice %s→%s, bob %s→%s", aliceID, alice.Self().ID, bobID, bob.Self().ID)
	}
	if after := membership(); after != before {
		t.Errorf("membership events changed: %s → %s (a rejoin happened)", before, after)
	}
	if n := len(alice.Stats().Peers) + len(bob.Stats().Peers); n != 2 {
		t.Errorf("%d connections in all, want 2", n)
	}
	alice.stop(t)
	bob.stop(t)
}

// frameCounts returns the video frames alice received from bob and bob
// from alice.
func frameCounts(alice, bob *runner, aliceID, bobID string) (uint64, uint64) {
	a, _ := peerStats(alice, bobID)
	b, _ := peerStats(bob, aliceID)
	return a.Video.FramesReceived, b.Video.FramesReceived
}

// TestICERestartGlare restarts ICE on the offering side while the other
// side renegotiates at the same moment, once with the restarter polite
// (it must roll its restart offer back and restart again) and once
// impolite. Both end stable with new ICE credentials on both sides and
// media flowing.
func TestICERestartGlare(t *testing.T) {
	server := startServer(t)
	for _, c := range []struct {
		name            string
		restarterPolite bool
	}{{"restarter polite", true}, {"restarter impolite", false}} {
		t.Run(c.name, func(t *testing.T) {
			room := fmt.Sprintf("restart-glare-%v", c.restarterPolite)
			alice, aliceID := joinMidID(t, server, room, "alice")
			bob, bobID := joinWithPolarity(t, server, room, aliceID, c.restarterPolite)
			waitFor(t, "alice receives bob", mediaFrom(alice, bobID))
			waitFor(t, "bob receives alice", mediaFrom(bob, aliceID))
			restartGlare(t, alice, bob, aliceID, bobID)
		})
	}
}

// joinWithPolarity joins "bob" peers to room until one gets an id that
// makes the peer aliceID polite (or impolite) towards it; ids are random,
// so each try has an even chance.
func joinWithPolarity(t *testing.T, server, room, aliceID string, alicePolite bool) (*runner, string) {
	t.Helper()
	for range 48 {
		bob := startPeer(t, server, room, "bob", peerOpts{tracks: newSynthSource(t, "bob").Tracks()})
		bobID := waitWelcome(t, bob)
		if proto.Polite(aliceID, bobID) == alicePolite {
			return bob, bobID
		}
		bob.stop(t)
	}
	t.Fatal("no peer id with the wanted politeness in 48 joins")
	return nil, ""
}

// restartGlare makes alice (the offerer) restart ICE while bob
// renegotiates, until their offers collide (at most 5 times).
func restartGlare(t *testing.T, alice, bob *runner, aliceID, bobID string) {
	t.Helper()
	if err := bob.RestartICE(aliceID); !errors.Is(err, peer.ErrNotOfferer) {
		t.Errorf("bob.RestartICE = %v, want ErrNotOfferer", err)
	}
	sawCollision := false
	for attempt := 0; attempt < 5 && !sawCollision; attempt++ {
		a0, _ := peerStats(alice, bobID)
		b0, _ := peerStats(bob, aliceID)
		atOnce(t,
			func() error { return alice.RestartICE(bobID) },
			func() error { return bob.Renegotiate(aliceID) })
		waitFor(t, "restart completes on both sides", func() error {
			a, _ := peerStats(alice, bobID)
			b, _ := peerStats(bob, aliceID)
			switch {
			case a.SignalingState != "stable" || b.SignalingState != "stable":
				return fmt.Errorf("signalling %s / %s", a.SignalingState, b.SignalingState)
			case a.State != "connected" || b.State != "connected":
				return fmt.Errorf("states %s / %s", a.State, b.State)
			case a.ICERestarts <= a0.ICERestarts || b.ICERestarts <= b0.ICERestarts:
				return fmt.Errorf("completed restarts alice %d→%d bob %d→%d", a0.ICERestarts, a.ICERestarts, b0.ICERestarts, b.ICERestarts)
			case a.Video.FramesReceived < a0.Video.FramesReceived+30 || b.Video.FramesReceived < b0.Video.FramesReceived+30:
				return errors.New("frames not rising")
			}
			return nil
		})
		a, _ := peerStats(alice, bobID)
		b, _ := peerStats(bob, aliceID)
		if a.RemoteUfrag == a0.RemoteUfrag || b.RemoteUfrag == b0.RemoteUfrag {
			t.Errorf("attempt %d: ufrags unchanged (alice sees %q, bob sees %q)", attempt, a.RemoteUfrag, b.RemoteUfrag)
		}
		sawCollision = a.Collisions > a0.Collisions || b.Collisions > b0.Collisions
		t.Logf("attempt %d: collision %v, restart offers %d, completed restarts alice %d bob %d",
			attempt, sawCollision, a.ICERestartsSent-a0.ICERestartsSent, a.ICERestarts, b.ICERestarts)
	}
	if !sawCollision {
		t.Fatal("no offer collision happened in 5 attempts; glare not exercised")
	}
	if n := len(bob.eventsOf(peer.EventICERestart)); n != 0 {
		t.Errorf("bob emitted %d ice-restart events", n)
	}
}

// joinMidID joins name to room, again until its peer id starts with a
// digit from 4 to b: against such an id a random newcomer is polite, and
// impolite, with a chance of at least a quarter each, so joinWithPolarity
// finds the wanted one quickly (an id near either end of the range could
// take dozens of joins).
func joinMidID(t *testing.T, server, room, name string) (*runner, string) {
	t.Helper()
	for range 48 {
		r := startPeer(t, server, room, name, peerOpts{tracks: newSynthSource(t, name).Tracks()})
		id := waitWelcome(t, r)
		if id[0] >= '4' && id[0] <= 'b' {
			return r, id
		}
		r.stop(t)
	}
	t.Fatal("no peer id in the middle of the range in 48 joins")
	return nil, ""
}
