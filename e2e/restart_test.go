package e2e

import (
	"context"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/internal/childproc"
	"github.com/videochat/videochat/internal/porttest"
	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/signal/proto"
)

// TestServerRestartNative: the server goes away mid-call; the two native
// peers keep their media flowing and their stats coming while it is down,
// and when it comes back on the same address with the same resume secret
// both are in the room again under their old ids, each with exactly one
// remote peer.
func TestServerRestartNative(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := freeAddr(t)
	serve := []string{"--resume-secret", "e2e-restart"}
	srv := start(t, append([]string{"serve", "--addr", addr}, serve...)...)
	srv.waitLine(ctx, childproc.ServingOn)
	url := "http://" + addr

	dir := t.TempDir()
	stats := map[string]string{}
	for _, name := range []string{"alice", "bob"} {
		stats[name] = filepath.Join(dir, name+".jsonl")
		start(t, joinArgs(url, "restart", name, "--video", "test", "--audio", "test", "--stats-json", stats[name])...)
	}
	ids := map[string]string{} // name → id, as the other side sees it
	for _, f := range stats {
		s := waitStats(ctx, t, f, func(s peer.Snapshot) bool { return s.Check(1) == nil })
		ids[s.Peers[0].Name] = s.Peers[0].ID
	}

	srv.stop(10 * time.Second)
	down := time.Now()
	// Frames keep coming for the whole outage: they rise in each half of
	// it (a rate would depend on the machine's load).
	counts := []map[string]uint64{frames(t, stats)}
	for _, at := range []time.Duration{2500 * time.Millisecond, 5 * time.Second} {
		waitStats(ctx, t, stats["alice"], func(peer.Snapshot) bool { return time.Since(down) >= at })
		counts = append(counts, frames(t, stats))
	}
	for name := range stats {
		if c := counts; c[1][name] <= c[0][name] || c[2][name] <= c[1][name] {
			t.Errorf("%s: %d → %d → %d frames over 5 s without a server, want them to keep coming", name, c[0][name], c[1][name], c[2][name])
		}
	}

	srv2 := start(t, append([]string{"serve", "--addr", addr}, serve...)...)
	srv2.waitLine(ctx, childproc.ServingOn)
	roster := waitRoster(ctx, t, url, "restart", 2)
	want := []string{ids["alice"], ids["bob"]}
	sort.Strings(want)
	if strings.Join(roster, ",") != strings.Join(want, ",") {
		t.Fatalf("roster after restart %v, want the old ids %v", roster, want)
	}
	for name, f := range stats {
		s := waitStats(ctx, t, f, func(s peer.Snapshot) bool { return len(s.Peers) == 1 && s.Peers[0].State == "connected" })
		if len(s.Peers) != 1 {
			t.Errorf("%s: %d remote peers after the restart, want 1", name, len(s.Peers))
		}
	}
}

// frames reads the video frames each peer has received from the other.
func frames(t *testing.T, stats map[string]string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for name, f := range stats {
		s, err := peer.LastSnapshot(f)
		if err != nil || len(s.Peers) != 1 {
			t.Fatalf("%s: stats %+v, %v", name, s, err)
		}
		out[name] = s.Peers[0].Video.FramesReceived
	}
	return out
}

// waitRoster joins room as a listener until the welcome lists n peers and
// returns their sorted ids.
func waitRoster(ctx context.Context, t *testing.T, base, room string, n int) []string {
	t.Helper()
	for {
		ids := rosterIDs(ctx, t, base, room)
		if len(ids) == n {
			return ids
		}
		select {
		case <-ctx.Done():
			t.Fatalf("room %s never held %d peers; last roster %v", room, n, ids)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func rosterIDs(ctx context.Context, t *testing.T, base, room string) []string {
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws/"+room, nil)
	if err != nil {
		return nil
	}
	defer ws.Close()
	if err := ws.WriteJSON(proto.Message{Type: proto.TypeJoin, Version: proto.Version, Name: "observer"}); err != nil {
		return nil
	}
	var m proto.Message
	if err := ws.ReadJSON(&m); err != nil || m.Type != proto.TypeWelcome {
		return nil
	}
	// Leave and wait for the server's close, so the server does not hold
	// this listener's place for resume and show it to the next look.
	if ws.WriteJSON(proto.Message{Type: proto.TypeLeave}) == nil {
		for ws.ReadJSON(&proto.Message{}) == nil {
		}
	}
	var ids []string
	for _, p := range m.Peers {
		ids = append(ids, p.ID)
	}
	sort.Strings(ids)
	return ids
}

// freeAddr returns a loopback address reserved for the test (porttest):
// the server and its restart bind it, no other process takes it between.
func freeAddr(t *testing.T) string {
	t.Helper()
	return porttest.Free(t)
}
