package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/peer"
)

// inboundVideo is what a page received from one peer, from getStats.
type inboundVideo struct {
	Bytes, Frames, KeyFrames, Width float64
}

func readInbound(pg *browsertest.Page, peerID string) inboundVideo {
	return browsertest.Eval[inboundVideo](pg, fmt.Sprintf(`(async () => {
		const r = {Bytes: 0, Frames: 0, KeyFrames: 0, Width: 0};
		const pc = window.videochat.peers().get(%s);
		if (pc) (await pc.getStats()).forEach((s) => {
			if (s.type === 'inbound-rtp' && s.kind === 'video') {
				r.Bytes += s.bytesReceived || 0; r.Frames += s.framesDecoded || 0;
				r.KeyFrames += s.keyFramesDecoded || 0; r.Width = s.frameWidth || 0;
			}
		});
		return r;
	})()`, strconv.Quote(peerID)))
}

// TestMixedMeshLayers: a native sender (ceiling 600 kbit/s) and two Chromium
// receivers, one of them behind a 300 kbit/s link (the only one that
// goes through the test's TURN relay, which caps what it sends). The weak
// one gets a lower layer and keeps playing; the unconstrained one keeps
// the top layer at ≥ 80 % of the ceiling; neither sees a keyframe storm.
func TestMixedMeshLayers(t *testing.T) {
	browsertest.Require(t)
	const ceiling = 600_000
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ice := startImpairedTURN(t, impairment{Rate: 300_000})
	_, url := startServer(ctx, t, "--ice-server", ice)
	stats := filepath.Join(t.TempDir(), "stats.jsonl")
	// 320x240 keeps the CPU of the machine (shared by two Chromiums,
	// two encoders and everything else) low enough that loopback itself
	// does not lose packets.
	start(t, joinArgs(url, "mesh", "robot", "--video", "test", "--audio", "test", "--width", "320", "--height", "240",
		"--video-bitrate", strconv.Itoa(ceiling), "--stats-json", stats)...)
	pages := map[string]*browsertest.Page{}
	ids := map[string]string{}
	for _, name := range []string{"strong", "weak"} {
		pg := browsertest.Launch(t, browsertest.Options{Name: name})
		q := ""
		if name == "weak" {
			q = "&relay=1"
		}
		pg.Navigate(fmt.Sprintf("%s/room/mesh?name=%s%s", url, name, q))
		_, ids[name] = tileOf(pg, "robot")
		pages[name] = pg
	}
	for name, pg := range pages {
		pg.WaitFramesDecoded(ids[name], 30)
		stopPageVideo(pg)
	}
	time.Sleep(10 * time.Second) // let the estimates settle, then judge a window
	from := time.Now()
	before := map[string]inboundVideo{}
	for name, pg := range pages {
		before[name] = readInbound(pg, ids[name])
	}
	const window = 15 * time.Second
	time.Sleep(window)
	s, err := peer.LastSnapshot(stats)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]inboundVideo{}
	for name, pg := range pages {
		a := readInbound(pg, ids[name])
		b := before[name]
		got[name] = inboundVideo{Bytes: a.Bytes - b.Bytes, Frames: a.Frames - b.Frames, KeyFrames: a.KeyFrames - b.KeyFrames, Width: a.Width}
		rp := robotView(t, s, name)
		t.Logf("%s: %.0f kbit/s, %.1f fps, %.0f px wide, %.0f keyframes in %v; robot sends layer %d at %d bit/s (estimate %d), PLIs %d, NACKs %d, loss %.3f, rtt %.0f ms, pair %s/%s",
			name, got[name].Bytes*8/1000/window.Seconds(), got[name].Frames/window.Seconds(), got[name].Width, got[name].KeyFrames, window,
			rp.Layer, rp.TargetBitrate, rp.EstimateBitrate, rp.PLICount, rp.NACKCount, rp.Loss, rp.RTTMillis,
			rp.CandidatePair.LocalType, rp.CandidatePair.RemoteType)
	}
	// Judge the robot's choices over the whole window, not one snapshot:
	// a delay-based estimate hovers around the link's capacity, so any
	// single second may sit a little above it.
	snaps, err := allSnapshots(stats)
	if err != nil {
		t.Fatal(err)
	}
	strong, weak := layerWindow(snaps, "strong", from), layerWindow(snaps, "weak", from)
	t.Logf("over the window: strong %+v, weak %+v", strong, weak)
	if strong.Seconds < 5 || strong.Base < 0.9 || strong.MedianTarget < ceiling*8/10 {
		t.Errorf("unconstrained receiver: %+v, want layer 0 in ≥ 90%% of the seconds at a median ≥ 80%% of %d", strong, ceiling)
	}
	if weak.Seconds < 5 || weak.Base > 1.0/3 || weak.MedianTarget > 300_000 {
		t.Errorf("weak receiver: %+v, want a lower layer in ≥ 2/3 of the seconds at a median under 300 kbit/s", weak)
	}
	if fps := got["weak"].Frames / window.Seconds(); fps < 10 {
		t.Errorf("weak receiver decodes %.1f fps, want ≥ 10", fps)
	}
	for name, v := range got {
		if v.KeyFrames > 4 { // natural keyframes every 10 s, a layer switch, a PLI
			t.Errorf("%s decoded %.0f keyframes in %v: keyframe storm", name, v.KeyFrames, window)
		}
	}
	if t.Failed() {
		logEstimates(t, stats)
	}
}

// layerChoice sums up what the sender chose for one receiver over a window.
type layerChoice struct {
	Seconds      int     // snapshots in the window
	Base         float64 // fraction of them on layer 0 (the top layer)
	MedianTarget int     // median target bitrate, bit/s
}

func layerWindow(snaps []peer.Snapshot, name string, from time.Time) layerChoice {
	var c layerChoice
	var base int
	var targets []int
	for _, s := range snaps {
		if s.Time.Before(from) {
			continue
		}
		for _, p := range s.Peers {
			if p.Name != name {
				continue
			}
			c.Seconds++
			targets = append(targets, p.TargetBitrate)
			if p.Layer == 0 {
				base++
			}
		}
	}
	if c.Seconds > 0 {
		c.Base = float64(base) / float64(c.Seconds)
		slices.Sort(targets)
		c.MedianTarget = targets[len(targets)/2]
	}
	return c
}

// logEstimates logs each second's target and estimate per peer.
func logEstimates(t *testing.T, path string) {
	snaps, err := allSnapshots(path)
	if err != nil {
		t.Log(err)
		return
	}
	for _, s := range snaps {
		line := s.Time.Format("15:04:05")
		for _, p := range s.Peers {
			line += fmt.Sprintf(" | %s L%d %dk/%dk loss %.2f", p.Name, p.Layer, p.TargetBitrate/1000, p.EstimateBitrate/1000, p.Loss)
		}
		t.Log(line)
	}
}

func allSnapshots(path string) ([]peer.Snapshot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []peer.Snapshot
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var s peer.Snapshot
		if json.Unmarshal([]byte(line), &s) == nil {
			out = append(out, s)
		}
	}
	return out, nil
}
