package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/peer"
)

// watchFreezes installs, on the page, a requestVideoFrameCallback loop on
// the <video> matching sel that records the longest gap between two
// rendered frames from now on (window.__gaps).
func watchFreezes(pg *browsertest.Page, sel string) {
	browsertest.Eval[bool](pg, fmt.Sprintf(`(() => {
		const v = document.querySelector(%s);
		const g = window.__gaps = {max: 0, frames: 0, last: 0};
		const tick = (now) => {
			if (g.last) g.max = Math.max(g.max, now - g.last);
			g.last = now; g.frames++;
			v.requestVideoFrameCallback(tick);
		};
		v.requestVideoFrameCallback(tick);
		return true;
	})()`, strconv.Quote(sel)))
}

// freezeReport is what the page saw: the longest gap between rendered
// frames, frames rendered, and Chromium's own freeze counters.
type freezeReport struct {
	MaxGapMs      float64
	Frames        int
	FreezeCount   int
	FreezeSeconds float64
	NACKs         int
}

func readFreezes(pg *browsertest.Page) freezeReport {
	return browsertest.Eval[freezeReport](pg, `(async () => {
		const r = {MaxGapMs: window.__gaps.max, Frames: window.__gaps.frames, FreezeCount: 0, FreezeSeconds: 0, NACKs: 0};
		for (const pc of window.videochat.peers().values())
			(await pc.getStats()).forEach((s) => {
				if (s.type === 'inbound-rtp' && s.kind === 'video') {
					r.FreezeCount += s.freezeCount || 0;
					r.FreezeSeconds += s.totalFreezesDuration || 0;
					r.NACKs += s.nackCount || 0;
				}
			});
		return r;
	})()`)
}

// TestLossNativeToChromium: a native sender and a Chromium receiver
// through a relay that loses 5 % of the packets each way and adds 30 ms
// each way (60 ms RTT). The page keeps playing: freezes are counted and
// none lasts longer than 2 s; Chromium's NACKs are answered with RTX.
func TestLossNativeToChromium(t *testing.T) {
	browsertest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ice := startImpairedTURN(t, impairment{Loss: 0.05, Delay: 30 * time.Millisecond})
	_, url := startServer(ctx, t, "--ice-server", ice)
	stats := filepath.Join(t.TempDir(), "stats.jsonl")
	start(t, joinArgs(url, "lossy", "robot", "--relay-only", "--video", "test", "--audio", "test", "--stats-json", stats)...)
	pg := browsertest.Launch(t, browsertest.Options{Name: "viewer"})
	pg.Navigate(url + "/room/lossy?name=viewer&relay=1")
	sel, id := tileOf(pg, "robot")
	pg.WaitFramesDecoded(id, 30)
	stopPageVideo(pg)
	watchFreezes(pg, sel)
	const window = 12 * time.Second
	time.Sleep(window) // the profile: lossy playback for a while
	r := readFreezes(pg)
	s, err := peer.LastSnapshot(stats)
	if err != nil {
		t.Fatal(err)
	}
	rp := robotView(t, s, "viewer")
	t.Logf("5%% loss, 60 ms RTT, %v: page rendered %d frames, longest gap %.0f ms, Chromium freezes %d (%.1f s), NACKs sent %d; robot: target %d bit/s, loss %.3f, NACKs %d, PLIs %d, RTX %d bytes",
		window, r.Frames, r.MaxGapMs, r.FreezeCount, r.FreezeSeconds, r.NACKs, rp.TargetBitrate, rp.Loss, rp.NACKCount, rp.PLICount, rp.RTXBytes)
	if want := int(window.Seconds()) * 8; r.Frames < want {
		t.Errorf("page rendered %d frames in %v, want ≥ %d: video did not keep playing", r.Frames, window, want)
	}
	if r.MaxGapMs > 2000 {
		t.Errorf("a freeze of %.0f ms, want none over 2 s", r.MaxGapMs)
	}
	if rp.NACKCount == 0 || rp.RTXBytes == 0 {
		t.Errorf("robot got %d NACKs and retransmitted %d bytes: NACKs from Chromium not answered", rp.NACKCount, rp.RTXBytes)
	}
}
