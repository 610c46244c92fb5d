package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/peer"
)

// TestNativeWithBrowsers: one native peer and two Chromium pages in one
// room. Each page shows the native peer's live video, the native peer
// receives both pages' video and audio, and chat goes both ways.
func TestNativeWithBrowsers(t *testing.T) {
	browsertest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, url := startServer(ctx, t)
	stats := filepath.Join(t.TempDir(), "stats.jsonl")
	robot := startWithStdin(t, joinArgs(url, "mixed", "robot", "--video", "test", "--audio", "test", "--stats-json", stats)...)

	pages := map[string]*browsertest.Page{}
	for _, name := range []string{"alice", "bob"} {
		pg := browsertest.Launch(t, browsertest.Options{Name: name})
		pg.Navigate(fmt.Sprintf("%s/room/mixed?name=%s", url, name))
		pages[name] = pg
	}
	for name, pg := range pages {
		sel, id := tileOf(pg, "robot")
		pg.WaitFramesDecoded(id, 30)
		sd := pg.WaitNonBlack(sel)
		t.Logf("%s sees robot (%s): luma stddev %.1f", name, id, sd)
	}

	waitStats(ctx, t, stats, func(s peer.Snapshot) bool { return s.Check(2) == nil })

	if _, err := fmt.Fprintln(robot.stdin, "hello from robot"); err != nil {
		t.Fatal(err)
	}
	for name, pg := range pages {
		pg.WaitFor(name+" shows robot's chat", `[...document.querySelectorAll('#chat-log > *')].some(e => e.textContent.includes('robot: hello from robot'))`, 30*time.Second)
	}
	browsertest.Eval[bool](pages["alice"], `(() => {
		document.querySelector('#chat-input').value = 'hi robot';
		document.querySelector('#chat-form').requestSubmit();
		return true;
	})()`)
	robot.waitLine(ctx, regexp.MustCompile(`^\[alice\] hi robot$`))
}

// waitStats waits until the last line of a --stats-json file satisfies ok.
func waitStats(ctx context.Context, t *testing.T, path string, ok func(peer.Snapshot) bool) peer.Snapshot {
	t.Helper()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last peer.Snapshot
	for {
		if s, err := peer.LastSnapshot(path); err == nil {
			last = s
			if ok(s) {
				return s
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("stats never satisfied the condition; last: %+v", last)
		case <-tick.C:
		}
	}
}
