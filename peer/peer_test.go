package peer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/videochat/videochat/internal/looptest"
	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/signal/proto"
)

// mediaFrom returns nil once r received ≥ MinFrames video frames and some
// audio from the peer id over a connected PeerConnection.
func mediaFrom(r *runner, id string) func() error {
	return func() error {
		ps, ok := peerStats(r, id)
		if !ok {
			return fmt.Errorf("%s has no connection to %s", r.name, id)
		}
		if ps.State != "connected" {
			return fmt.Errorf("%s→%s state %s", r.name, id, ps.State)
		}
		if ps.Video.FramesReceived < peer.MinFrames || ps.Audio.PacketsReceived == 0 {
			return fmt.Errorf("%s from %s: %d frames, %d audio", r.name, id, ps.Video.FramesReceived, ps.Audio.PacketsReceived)
		}
		return nil
	}
}

// pair starts alice then bob in one room and waits until media flows both
// ways.
func pair(t *testing.T, server, room string) (alice, bob *runner, aliceID, bobID string) {
	t.Helper()
	alice = startPeer(t, server, room, "alice", peerOpts{tracks: newSynthSource(t, "alice").Tracks()})
	aliceID = waitWelcome(t, alice)
	bob = startPeer(t, server, room, "bob", peerOpts{tracks: newSynthSource(t, "bob").Tracks()})
	bobID = waitWelcome(t, bob)
	waitFor(t, "alice receives bob", mediaFrom(alice, bobID))
	waitFor(t, "bob receives alice", mediaFrom(bob, aliceID))
	return alice, bob, aliceID, bobID
}

func TestTwoPeersExchangeMedia(t *testing.T) {
	server := startServer(t)
	alice, bob, aliceID, bobID := pair(t, server, "two")

	// Call set-up time: bob's Run start → first remote frame on each side.
	for _, c := range []struct {
		r  *runner
		id string
	}{{alice, bobID}, {bob, aliceID}} {
		ps, _ := peerStats(c.r, c.id)
		if ps.FirstFrame.IsZero() {
			t.Fatalf("%s: no first-frame time", c.r.name)
		}
		t.Logf("%s: first frame from peer %.0f ms after bob started", c.r.name, ps.FirstFrame.Sub(bob.started).Seconds()*1000)
	}

	for _, r := range []*runner{alice, bob} {
		snap := r.Stats()
		if err := snap.Check(1); err != nil {
			t.Errorf("%s: Check(1): %v", r.name, err)
		}
		if err := snap.Check(2); err == nil {
			t.Errorf("%s: Check(2) passed with one remote peer", r.name)
		}
		if len(snap.Peers) != 1 {
			t.Fatalf("%s: %d peers in stats, want 1", r.name, len(snap.Peers))
		}
		ps := snap.Peers[0]
		// The remote side is "prflx" when its check beat its trickled candidate.
		if cp := ps.CandidatePair; cp.LocalType != "host" || (cp.RemoteType != "host" && cp.RemoteType != "prflx") {
			t.Errorf("%s: candidate pair %+v, want host/host (or host/prflx) on loopback", r.name, cp)
		}
		if ps.BytesSent == 0 || ps.Video.BytesReceived == 0 {
			t.Errorf("%s: bytes sent %d, video bytes received %d", r.name, ps.BytesSent, ps.Video.BytesReceived)
		}
		if len(r.eventsOf(peer.EventFirstFrame)) != 1 {
			t.Errorf("%s: %d first-frame events, want 1", r.name, len(r.eventsOf(peer.EventFirstFrame)))
		}
	}
	// fps settles near the 30 fps source once the per-second ticker ran.
	waitFor(t, "fps", func() error {
		ps, _ := peerStats(alice, bobID)
		if ps.Video.FPS < 20 || ps.Video.FPS > 40 {
			return fmt.Errorf("fps %.1f", ps.Video.FPS)
		}
		return nil
	})
	if ps, _ := peerStats(bob, aliceID); ps.Name != "alice" {
		t.Errorf("bob sees name %q, want alice", ps.Name)
	}
}

func TestStatsJSONSchema(t *testing.T) {
	server := startServer(t)
	alice, _, _, _ := pair(t, server, "schema")
	b, err := json.Marshal(alice.Stats())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse(time.RFC3339, doc["time"].(string)); err != nil {
		t.Errorf("time not RFC 3339: %v", err)
	}
	peers := doc["peers"].([]any)
	if len(peers) != 1 {
		t.Fatalf("%d peers", len(peers))
	}
	want := map[string][]string{
		"": {"audio", "bytes_sent", "camera", "candidate_pair", "estimate_bitrate", "freeze_count", "freeze_max_ms", "freeze_ms",
			"ice_restarts", "id", "jitter_ms", "layer", "loss", "loss_pct", "mic", "nack_count", "name", "pli_count",
			"quality", "rtt_ms", "rtx_bytes", "safety_code", "speaking", "state", "target_bitrate", "video"},
		"video":          {"bytes_received", "fps", "frames_received"},
		"audio":          {"packets_received"},
		"candidate_pair": {"local_type", "remote_type"},
	}
	p0 := peers[0].(map[string]any)
	for sub, keys := range want {
		obj := p0
		if sub != "" {
			obj = p0[sub].(map[string]any)
		}
		var got []string
		for k := range obj {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, keys) {
			t.Errorf("keys of %q: %v, want %v", sub, got, keys)
		}
	}
}

func TestAloneCheckFails(t *testing.T) {
	server := startServer(t)
	alone := startPeer(t, server, "alone", "solo", peerOpts{tracks: newSynthSource(t, "solo").Tracks()})
	waitWelcome(t, alone)
	err := alone.Stats().Check(1)
	if err == nil {
		t.Fatal("Check(1) passed with nobody in the room")
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "no remote peers") {
		t.Errorf("Check(1) = %q, want one line naming the missing peers", msg)
	}
	if err := alone.Stats().Check(0); err != nil {
		t.Errorf("Check(0) = %v", err)
	}
}

func TestCheckNamesShortPeers(t *testing.T) {
	snap := peer.Snapshot{Peers: []peer.PeerStats{
		{ID: "a1", Name: "ann", Video: peer.VideoStats{FramesReceived: 12}},
		{ID: "b2", Name: "ben", Video: peer.VideoStats{FramesReceived: 40}, Audio: peer.AudioStats{PacketsReceived: 9}},
	}}
	if err := snap.Check(1); err != nil {
		t.Errorf("Check(1) = %v, want nil", err)
	}
	err := snap.Check(2)
	if err == nil || !strings.Contains(err.Error(), "ann (a1): 12 video frames, 0 audio packets") || strings.Contains(err.Error(), "ben") {
		t.Errorf("Check(2) = %v", err)
	}
}

func TestChatBothWays(t *testing.T) {
	server := startServer(t)
	alice, bob, _, _ := pair(t, server, "chat")
	for _, c := range []struct {
		from, to *runner
		text     string
	}{{alice, bob, "hello bob"}, {bob, alice, "hi alice ✓"}} {
		waitFor(t, "chat channel open", func() error { return c.from.SendChat(c.text) })
		want := "[" + c.from.name + "] " + c.text
		waitFor(t, "chat delivered", func() error {
			if lines := c.to.chatLines(); !slices.Contains(lines, want) {
				return fmt.Errorf("%s got %q", c.to.name, lines)
			}
			return nil
		})
	}
}

func TestSendChatAloneFails(t *testing.T) {
	server := startServer(t)
	alone := startPeer(t, server, "chat-alone", "solo", peerOpts{})
	waitWelcome(t, alone)
	if err := alone.SendChat("anyone?"); !errors.Is(err, peer.ErrNoPeers) {
		t.Errorf("SendChat alone = %v, want ErrNoPeers", err)
	}
}

func TestPeerLeftTearsDown(t *testing.T) {
	server := startServer(t)
	alice, bob, _, bobID := pair(t, server, "leave")
	bob.stop(t)
	waitFor(t, "alice drops bob", func() error {
		if n := len(alice.Stats().Peers); n != 0 {
			return fmt.Errorf("%d peers", n)
		}
		return nil
	})
	// The connection leaves Stats just before the event is emitted.
	waitFor(t, "alice's peer-left event", func() error {
		if len(alice.eventsOf(peer.EventPeerLeft)) == 0 {
			return errors.New("none yet")
		}
		return nil
	})
	left := alice.eventsOf(peer.EventPeerLeft)
	if len(left) != 1 || left[0].Peer.ID != bobID || left[0].Peer.Name != "bob" {
		t.Errorf("peer-left events %+v", left)
	}
	waitState(t, alice, bobID, "closed")
}

func TestChurn(t *testing.T) {
	server := startServer(t)
	alice, bob, aliceID, bobID := pair(t, server, "churn")
	frames := func() (uint64, uint64) {
		a, _ := peerStats(alice, bobID)
		b, _ := peerStats(bob, aliceID)
		return a.Video.FramesReceived, b.Video.FramesReceived
	}
	for i := range 3 {
		a0, b0 := frames()
		carol := startPeer(t, server, "churn", fmt.Sprintf("carol%d", i), peerOpts{tracks: newSynthSource(t, "carol").Tracks()})
		carolID := waitWelcome(t, carol)
		waitFor(t, "carol receives both", func() error {
			return errors.Join(mediaFrom(carol, aliceID)(), mediaFrom(carol, bobID)())
		})
		waitFor(t, "both receive carol", func() error {
			return errors.Join(mediaFrom(alice, carolID)(), mediaFrom(bob, carolID)())
		})
		carol.stop(t)
		waitFor(t, "carol gone", func() error {
			if len(alice.Stats().Peers) != 1 || len(bob.Stats().Peers) != 1 {
				return errors.New("still there")
			}
			return nil
		})
		a1, b1 := frames()
		if a1 <= a0 || b1 <= b0 {
			t.Fatalf("round %d: alice/bob frame counters stalled: %d→%d, %d→%d", i, a0, a1, b0, b1)
		}
		t.Logf("round %d: alice +%d frames, bob +%d frames", i, a1-a0, b1-b0)
	}
	// Media between the two stays connected after the churn.
	a0, b0 := frames()
	waitFor(t, "frames keep rising", func() error {
		a1, b1 := frames()
		if a1 < a0+30 || b1 < b0+30 {
			return fmt.Errorf("alice %d→%d, bob %d→%d", a0, a1, b0, b1)
		}
		return nil
	})
	alice.stop(t)
	bob.stop(t)
	goleak.VerifyNone(t, goleak.IgnoreCurrent())
}

// TestGlare makes both sides renegotiate at the same moment: perfect
// negotiation must settle both in stable with media still flowing.
func TestGlare(t *testing.T) {
	server := startServer(t)
	alice, bob, aliceID, bobID := pair(t, server, "glare")
	sawCollision := false
	for attempt := 0; attempt < 5 && !sawCollision; attempt++ {
		a0, _ := peerStats(alice, bobID)
		b0, _ := peerStats(bob, aliceID)
		atOnce(t,
			func() error { return alice.Renegotiate(bobID) },
			func() error { return bob.Renegotiate(aliceID) })
		// Each explicit offer is answered eventually: +2 rounds per side.
		waitFor(t, "both stable after renegotiation", func() error {
			a, _ := peerStats(alice, bobID)
			b, _ := peerStats(bob, aliceID)
			if a.SignalingState != "stable" || b.SignalingState != "stable" {
				return fmt.Errorf("signalling %s / %s", a.SignalingState, b.SignalingState)
			}
			if a.Negotiations < a0.Negotiations+2 || b.Negotiations < b0.Negotiations+2 {
				return fmt.Errorf("rounds alice %d→%d bob %d→%d", a0.Negotiations, a.Negotiations, b0.Negotiations, b.Negotiations)
			}
			return nil
		})
		a, _ := peerStats(alice, bobID)
		b, _ := peerStats(bob, aliceID)
		sawCollision = a.Collisions > a0.Collisions || b.Collisions > b0.Collisions
		t.Logf("attempt %d: collisions alice %d bob %d", attempt, a.Collisions, b.Collisions)
	}
	if !sawCollision {
		t.Fatal("no offer collision happened in 5 attempts; glare not exercised")
	}
	a0, _ := peerStats(alice, bobID)
	b0, _ := peerStats(bob, aliceID)
	waitFor(t, "media after glare", func() error {
		a, _ := peerStats(alice, bobID)
		b, _ := peerStats(bob, aliceID)
		if a.State != "connected" || b.State != "connected" {
			return fmt.Errorf("states %s / %s", a.State, b.State)
		}
		if a.Video.FramesReceived < a0.Video.FramesReceived+30 || b.Video.FramesReceived < b0.Video.FramesReceived+30 {
			return errors.New("frames not rising")
		}
		return nil
	})
}

func TestRoomFullIsCodedError(t *testing.T) {
	server := startServerWith(t, signal.Config{MaxPeers: 1})
	first := startPeer(t, server, "full", "first", peerOpts{})
	waitWelcome(t, first)
	p, err := peer.New(peer.Config{Server: server, Room: "full", Name: "second", API: looptest.API(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	err = p.Run(ctx)
	var perr *proto.Error
	if !errors.As(err, &perr) || perr.Code != proto.CodeRoomFull {
		t.Fatalf("Run = %v, want *proto.Error room-full", err)
	}
}
