package peer_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/logtest"
	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/signal/proto"
	"github.com/videochat/videochat/signal/turn"
)

// noRelayFor is how long the relay-only call with bad credentials is
// watched for a connection that must not come.
const noRelayFor = 5 * time.Second

// startTURN runs the embedded TURN server on 127.0.0.1 with free ports,
// relaying to loopback (AllowPrivate), with the given secret.
func startTURN(t *testing.T, secret string) *turn.Server {
	t.Helper()
	ts, err := turn.New(turn.Config{
		ListenUDP: "127.0.0.1:0", ListenTCP: "127.0.0.1:0",
		Secret: []byte(secret), AllowPrivate: true,
		Logger: logtest.New(t).With("side", "turn"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ts.Close(); err != nil {
			t.Errorf("close TURN: %v", err)
		}
	})
	return ts
}

// relayPair starts two relay-only peers in a room of a signalling server
// that hands out iceServers.
func relayPair(t *testing.T, iceServers func(string) []proto.ICEServer) (alice, bob *runner) {
	t.Helper()
	server := startServerWith(t, signal.Config{ICEServers: iceServers})
	o := func(name string) peerOpts {
		return peerOpts{tracks: newSynthSource(t, name).Tracks(), relayOnly: true, iceRestartAfter: -1}
	}
	alice = startPeer(t, server, "relay", "alice", o("alice"))
	waitWelcome(t, alice)
	bob = startPeer(t, server, "relay", "bob", o("bob"))
	waitWelcome(t, bob)
	return alice, bob
}

// TestRelayOnlyCall: two RelayOnly peers exchange media through the
// embedded TURN server and the selected pair is relayed on both sides.
func TestRelayOnlyCall(t *testing.T) {
	ts := startTURN(t, "turn secret")
	alice, bob := relayPair(t, ts.ICEServers)
	aliceID, bobID := alice.Self().ID, bob.Self().ID
	waitFor(t, "alice receives bob", mediaFrom(alice, bobID))
	waitFor(t, "bob receives alice", mediaFrom(bob, aliceID))
	for _, c := range []struct {
		r  *runner
		id string
	}{{alice, bobID}, {bob, aliceID}} {
		ps, _ := peerStats(c.r, c.id)
		if ps.CandidatePair.LocalType != "relay" {
			t.Errorf("%s: selected pair %+v, want local type relay", c.r.name, ps.CandidatePair)
		}
		t.Logf("%s: pair %s/%s, %d frames, rtt %.1f ms", c.r.name, ps.CandidatePair.LocalType,
			ps.CandidatePair.RemoteType, ps.Video.FramesReceived, ps.RTTMillis)
	}
	if n := ts.Allocations(); n < 2 {
		t.Errorf("TURN server holds %d allocations, want one per peer at least", n)
	}
}

// TestRelayOnlyWrongCredentials: the TURN credentials in the welcome are
// signed with another secret; the TURN server refuses them, nobody gets a
// relay candidate and the relay-only call never connects.
func TestRelayOnlyWrongCredentials(t *testing.T) {
	ts := startTURN(t, "turn secret")
	forged, err := turn.ICEServers(ts.URLs(), []byte("another secret"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := relayPair(t, forged)
	aliceID, bobID := alice.Self().ID, bob.Self().ID
	waitFor(t, "connections exist", func() error {
		_, a := peerStats(alice, bobID)
		_, b := peerStats(bob, aliceID)
		if !a || !b {
			return fmt.Errorf("alice→bob %v, bob→alice %v", a, b)
		}
		return nil
	})
	deadline := time.Now().Add(noRelayFor)
	for time.Now().Before(deadline) {
		for _, c := range []struct {
			r  *runner
			id string
		}{{alice, bobID}, {bob, aliceID}} {
			ps, _ := peerStats(c.r, c.id)
			if ps.State == "connected" || ps.CandidatePair.LocalType != "" {
				t.Fatalf("%s: state %s, pair %+v with refused TURN credentials", c.r.name, ps.State, ps.CandidatePair)
			}
		}
		if n := ts.Allocations(); n != 0 {
			t.Fatalf("TURN server granted %d allocations to forged credentials", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, r := range []*runner{alice, bob} {
		for _, e := range r.eventsOf(peer.EventState) {
			if e.State == "connected" {
				t.Errorf("%s: a connected state event with refused credentials", r.name)
			}
		}
	}
}
