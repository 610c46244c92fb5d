package peer_test

import (
	"errors"
	"fmt"
	"testing"
)

// freshMedia returns nil once r has exactly one connection, to id, and
// receives media on it that is newer than before (the counters of a new
// connection start at zero, so "more than before" would not do).
func freshMedia(r *runner, id string, firstBefore int64) func() error {
	return func() error {
		if err := mediaFrom(r, id)(); err != nil {
			return err
		}
		snap := r.Stats()
		if len(snap.Peers) != 1 {
			return fmt.Errorf("%s has %d connections", r.name, len(snap.Peers))
		}
		if ps := snap.Peers[0]; ps.FirstFrame.UnixNano() <= firstBefore {
			return errors.New("still the old connection's media")
		}
		return nil
	}
}

func firstFrame(r *runner, id string) int64 {
	ps, _ := peerStats(r, id)
	return ps.FirstFrame.UnixNano()
}

// TestNewConnectionFromKnownPeer: bob replaces his connection to alice by
// a new one and offers on it. Alice sees an offer from another
// PeerConnection (new DTLS fingerprint) for a peer she is connected to: she
// replaces her connection too instead of renegotiating the dead one, and
// media flows again.
func TestNewConnectionFromKnownPeer(t *testing.T) {
	server := startServer(t)
	alice, bob, aliceID, bobID := pair(t, server, "replace")
	a0, b0 := firstFrame(alice, bobID), firstFrame(bob, aliceID)
	if err := bob.ReplaceConnection(aliceID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice receives bob on a new connection", freshMedia(alice, bobID, a0))
	waitFor(t, "bob receives alice on a new connection", freshMedia(bob, aliceID, b0))
}

// TestFirstOfferGlare: both sides make a new connection and offer at the
// same moment, before either has a remote description. The impolite side
// ignores the other's offer; the polite one cannot roll back its first
// offer and replaces its connection by one that answers. Exactly one
// connection each remains, with media.
func TestFirstOfferGlare(t *testing.T) {
	server := startServer(t)
	alice, bob, aliceID, bobID := pair(t, server, "glare-first")
	a0, b0 := firstFrame(alice, bobID), firstFrame(bob, aliceID)
	atOnce(t,
		func() error { return alice.ReplaceConnection(bobID) },
		func() error { return bob.ReplaceConnection(aliceID) })
	waitFor(t, "alice receives bob on a new connection", freshMedia(alice, bobID, a0))
	waitFor(t, "bob receives alice on a new connection", freshMedia(bob, aliceID, b0))
}
