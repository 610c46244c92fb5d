package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/xvfbtest"
	"github.com/videochat/videochat/peer"
)

// TestWindowXServerDies: the X server under `join --view window` is
// killed mid-call. Only the window goes (a warning says so); the process
// lives on (Xlib's default is exit) and stays in the call: it still sees
// the sender connected and its audio arriving, and leaves cleanly when
// asked.
func TestWindowXServerDies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := xvfbtest.Start(t, 640, 480)
	_, url := startServer(ctx, t)
	d.Setenv(t)
	start(t, joinArgs(url, "wdie", "tx", "--video", "test", "--audio", "test", "--width", "320", "--height", "240", "--view", "none")...)
	stats := filepath.Join(t.TempDir(), "rx.json")
	rx := start(t, joinArgs(url, "wdie", "rx", "--video", "none", "--audio", "none", "--view", "window",
		"--window-renderer", "software", "--stats-json", stats, "--log-level", "info")...)
	txPeer := func(s peer.Snapshot) (peer.PeerStats, bool) {
		for _, p := range s.Peers {
			if p.Name == "tx" {
				return p, true
			}
		}
		return peer.PeerStats{}, false
	}
	waitOutput(ctx, t, rx, "window open")
	before := waitStats(ctx, t, stats, func(s peer.Snapshot) bool {
		p, ok := txPeer(s)
		return ok && p.Video.FramesReceived >= 30 && p.Audio.PacketsReceived >= 50
	})
	b, _ := txPeer(before)

	d.Kill()
	waitOutput(ctx, t, rx, "X server gone; the call goes on without the view")
	after := waitStats(ctx, t, stats, func(s peer.Snapshot) bool {
		p, ok := txPeer(s)
		// 5 s more of audio (20 ms packets)
		return ok && p.State == "connected" && p.Audio.PacketsReceived >= b.Audio.PacketsReceived+250
	})
	a, _ := txPeer(after)
	t.Logf("after the X server's death: audio packets %d → %d, state %s", b.Audio.PacketsReceived, a.Audio.PacketsReceived, a.State)
	leavesCleanlyAfterXDeath(ctx, t, rx)
}
