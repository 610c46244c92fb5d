package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/peer"
)

// turnArgs run the embedded TURN server on loopback. Relaying to loopback
// peers needs --turn-allow-private.
var turnArgs = []string{"--turn", "--turn-listen", "127.0.0.1:0"}

// relayedAll reports whether every peer in s has at least n video frames over
// a relayed local candidate.
func relayedAll(s peer.Snapshot, peers, n int) bool {
	if len(s.Peers) < peers {
		return false
	}
	for _, p := range s.Peers {
		if p.CandidatePair.LocalType != "relay" || p.Video.FramesReceived < uint64(n) {
			return false
		}
	}
	return true
}

// TestRelayOnlyNativePair: two --relay-only native peers talk through the
// embedded TURN server; the selected pair is relay on both sides.
func TestRelayOnlyNativePair(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	_, url := startServer(ctx, t, append(turnArgs, "--turn-allow-private")...)
	dir := t.TempDir()
	var stats []string
	for _, name := range []string{"alice", "bob"} {
		f := filepath.Join(dir, name+".jsonl")
		stats = append(stats, f)
		start(t, joinArgs(url, "relay", name, "--relay-only", "--video", "test", "--audio", "test", "--stats-json", f)...)
	}
	for _, f := range stats {
		s := waitStats(ctx, t, f, func(s peer.Snapshot) bool { return relayedAll(s, 1, 30) })
		t.Logf("%s: %+v", filepath.Base(f), s.Peers[0].CandidatePair)
	}
}

// TestRelayOnlyNativeBrowser: a --relay-only native peer and a Chromium
// page with ?relay=1 exchange live video through the embedded TURN server.
func TestRelayOnlyNativeBrowser(t *testing.T) {
	browsertest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, url := startServer(ctx, t, append(turnArgs, "--turn-allow-private")...)
	stats := filepath.Join(t.TempDir(), "robot.jsonl")
	start(t, joinArgs(url, "relayweb", "robot", "--relay-only", "--video", "test", "--audio", "test", "--stats-json", stats)...)
	pg := browsertest.Launch(t, browsertest.Options{Name: "alice"})
	pg.Navigate(url + "/room/relayweb?name=alice&relay=1")
	sel, id := tileOf(pg, "robot")
	pg.WaitFramesDecoded(id, 30)
	pg.WaitNonBlack(sel)
	s := waitStats(ctx, t, stats, func(s peer.Snapshot) bool { return relayedAll(s, 1, 30) })
	t.Logf("robot ← alice over %+v", s.Peers[0].CandidatePair)
}

// TestTURNRefusesLoopbackPeers: without --turn-allow-private the embedded
// TURN server will not relay to loopback addresses, so a relay-only call
// between two local peers cannot connect.
func TestTURNRefusesLoopbackPeers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	_, url := startServer(ctx, t, turnArgs...)
	probe := []string{"--relay-only", "--video", "test", "--audio", "test", "--expect", "1", "--duration", "8s"}
	a := start(t, joinArgs(url, "private", "alice", probe...)...)
	b := start(t, joinArgs(url, "private", "bob", probe...)...)
	for name, p := range map[string]*proc{"alice": a, "bob": b} {
		if code := p.wait(ctx); code != exitExpectNotMet {
			t.Errorf("%s: exit %d, want %d (no media through a TURN server that refuses loopback)\n%s", name, code, exitExpectNotMet, p.output())
		}
	}
}

// exitExpectNotMet is join's exit code when --expect is not met.
const exitExpectNotMet = 3
