package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestJoinWHIPAndWHEP: `join --whip` publishes test sources into a room of
// `serve --whip --whep`; a native room participant's --expect counts it,
// and `join --whep` plays it back with --expect and --record.
func TestJoinWHIPAndWHEP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, url := startServer(ctx, t, "--whip", "--whep")
	net := []string{"--ice-interface", "lo", "--mdns=false"}
	pub := start(t, append([]string{"join", "--whip", url + "/whip/ingest?name=obs", "--video", "test", "--audio", "test", "--duration", "40s"}, net...)...)
	room := start(t, joinArgs(url, "ingest", "viewer", "--video", "none", "--audio", "none", "--expect", "1", "--duration", "10s")...)
	if code := room.wait(ctx); code != 0 {
		t.Fatalf("room participant: exit %d, want 0 (it must receive the WHIP publisher)\n%s\npublisher:\n%s", code, room.output(), pub.output())
	}
	rec := t.TempDir()
	play := start(t, append([]string{"join", "--whep", url + "/whep/ingest/obs", "--expect", "1", "--duration", "8s", "--record", rec}, net...)...)
	if code := play.wait(ctx); code != 0 {
		t.Fatalf("WHEP player: exit %d, want 0\n%s\npublisher:\n%s", code, play.output(), pub.output())
	}
	for _, f := range []string{"whep-ingest-obs.ivf", "whep-ingest-obs.ogg"} {
		st, err := os.Stat(filepath.Join(rec, f))
		if err != nil || st.Size() < 1000 {
			t.Errorf("recording %s: %v (size %v)", f, err, st)
		}
	}
	pub.stop(10 * time.Second)
}
