package e2e

// netns_test.go: tests on a shaped network. Each such test re-runs itself
// (the test binary, with -test.run naming only it) inside a fresh network
// namespace made with `unshare -rn`, where it owns the loopback interface:
// server, native peers and Chromium all run in there, and the test shapes
// "lo" with tc (tbf; netem does not exist on these kernels). Nothing
// outside the namespace is touched, and the namespace ends with the child.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/peer"
)

const (
	netnsEnv    = "VIDEOCHAT_E2E_NETNS" // set in the child: it runs inside the namespace
	netnsBinEnv = "VIDEOCHAT_E2E_BIN"   // the parent's videochat binary, for the child
)

// inNetns makes the calling test run inside its own network namespace. In
// the parent it runs the child, reports its output and result, and returns
// false: the caller returns at once. In the child it brings "lo" up and
// returns true.
func inNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsEnv) == "1" {
		sh(t, "ip", "link", "set", "lo", "up")
		return true
	}
	for _, tool := range []string{"unshare", "tc", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not found: network-namespace tests cannot run", tool)
			}
			t.Skipf("%s not found: network-namespace tests skipped", tool)
		}
	}
	browsertest.Require(t)
	cmd := exec.Command("unshare", "-rn", os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), netnsEnv+"=1", netnsBinEnv+"="+binPath)
	out, err := cmd.CombinedOutput()
	t.Logf("in a network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("test in the network namespace failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatal("the test did not run in the network namespace")
	}
	return false
}

// sh runs a command and fails the test if it fails.
func sh(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// limitLo caps everything on the loopback interface to rate (tc syntax,
// e.g. "500kbit"); "" lifts the cap.
func limitLo(t *testing.T, rate string) {
	t.Helper()
	if rate == "" {
		sh(t, "tc", "qdisc", "del", "dev", "lo", "root")
		return
	}
	sh(t, "tc", "qdisc", "replace", "dev", "lo", "root", "tbf", "rate", rate, "burst", "32kbit", "latency", "400ms")
}

// stopPageVideo stops the page's own camera towards every peer, so that
// only the native peer's video crosses the shaped link.
func stopPageVideo(pg *browsertest.Page) {
	browsertest.Eval[bool](pg, `(() => {
		for (const pc of window.videochat.peers().values())
			for (const s of pc.getSenders())
				if (s.track && s.track.kind === 'video') s.replaceTrack(null);
		return true;
	})()`)
}

// TestBottleneckNativeToChromium: a native sender (ceiling 1 Mbit/s) and a
// Chromium receiver behind a 500 kbit/s bottleneck. After 10 s the page
// decodes at least 15 fps and the sender's target is below the link;
// when the limit is lifted the sender is back above 90 % of its ceiling
// (within a minute: 7.5–18.5 s measured, over 20 s at load 20).
func TestBottleneckNativeToChromium(t *testing.T) {
	if !inNetns(t) {
		return
	}
	const ceiling = 1_000_000
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, url := startServer(ctx, t)
	stats := filepath.Join(t.TempDir(), "stats.jsonl")
	start(t, joinArgs(url, "neck", "robot", "--video", "test", "--audio", "test",
		"--video-bitrate", strconv.Itoa(ceiling), "--stats-json", stats)...)
	pg := browsertest.Launch(t, browsertest.Options{Name: "viewer"})
	pg.Navigate(fmt.Sprintf("%s/room/neck?name=viewer", url))
	_, id := tileOf(pg, "robot")
	pg.WaitFramesDecoded(id, 30)
	stopPageVideo(pg)

	limitLo(t, "500kbit")
	time.Sleep(10 * time.Second) // the profile: judge from 10 s after the limit on
	from := time.Now()
	f0, err := pg.FramesDecoded(id)
	if err != nil {
		t.Fatal(err)
	}
	const window = 10 * time.Second
	time.Sleep(window)
	f1, err := pg.FramesDecoded(id)
	if err != nil {
		t.Fatal(err)
	}
	fps := float64(f1-f0) / window.Seconds()
	s, err := peer.LastSnapshot(stats)
	if err != nil {
		t.Fatal(err)
	}
	rp := robotView(t, s, "viewer")
	t.Logf("under 500 kbit/s: viewer decodes %.1f fps; robot's target %d bit/s, layer %d, loss %.3f, rtt %.0f ms",
		fps, rp.TargetBitrate, rp.Layer, rp.Loss, rp.RTTMillis)
	if fps < 15 {
		t.Errorf("viewer decoded %.1f fps behind the bottleneck, want ≥ 15", fps)
	}
	// Judged over the window, not one snapshot: a delay-based estimate
	// hovers around the link's capacity, so any second may sit a little
	// above it (535 kbit/s seen).
	snaps, err := allSnapshots(stats)
	if err != nil {
		t.Fatal(err)
	}
	if w := layerWindow(snaps, "viewer", from); w.Seconds < 5 || w.MedianTarget <= 0 || w.MedianTarget > 500_000 {
		t.Errorf("sender's target over the window %+v behind a 500 kbit/s link: not adapted (median want ≤ 500000 bit/s)", w)
	}

	limitLo(t, "")
	lifted := time.Now()
	// How fast is logged (7.5–18.5 s seen, over 20 s at load 20): on a
	// loaded machine scheduling delays read as queueing to the
	// delay-based estimate and slow the climb, so the bound is loose.
	rctx, rcancel := context.WithTimeout(ctx, time.Minute)
	defer rcancel()
	waitStats(rctx, t, stats, func(s peer.Snapshot) bool {
		for _, p := range s.Peers {
			if p.Name == "viewer" && p.TargetBitrate >= ceiling*9/10 {
				return true
			}
		}
		return false
	})
	t.Logf("back above 90%% of the ceiling %v after the limit was lifted", time.Since(lifted).Round(100*time.Millisecond))
}

// robotView returns the stats of peer name in a snapshot.
func robotView(t *testing.T, s peer.Snapshot, name string) peer.PeerStats {
	t.Helper()
	for _, p := range s.Peers {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no peer %q in the stats", name)
	return peer.PeerStats{}
}

// TestBottleneckChromiumToNative: the reverse direction. A Chromium sender
// and a native receiver behind a 500 kbit/s bottleneck: the native peer's
// feedback (TWCC, NACK, PLI) lets Chromium adapt, so the native receiver
// keeps getting video (≥ 15 fps after 10 s) and Chromium's own estimate of
// the link stays under the limit.
func TestBottleneckChromiumToNative(t *testing.T) {
	if !inNetns(t) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, url := startServer(ctx, t)
	stats := filepath.Join(t.TempDir(), "stats.jsonl")
	start(t, joinArgs(url, "rev", "robot", "--video", "none", "--audio", "none", "--stats-json", stats)...)
	pg := browsertest.Launch(t, browsertest.Options{Name: "sender"})
	pg.Navigate(fmt.Sprintf("%s/room/rev?name=sender", url))
	waitStats(ctx, t, stats, func(s peer.Snapshot) bool {
		return len(s.Peers) == 1 && s.Peers[0].Video.FramesReceived >= 30
	})

	limitLo(t, "500kbit")
	time.Sleep(10 * time.Second) // the profile: judge from 10 s after the limit on
	s0, err := peer.LastSnapshot(stats)
	if err != nil {
		t.Fatal(err)
	}
	// Chromium's estimate, once a second over the window: judged by its
	// median, as it hovers around the link's capacity.
	var outs []float64
	for range 10 {
		time.Sleep(time.Second) // sampling over the window, not synchronising
		outs = append(outs, browsertest.Eval[float64](pg, `(async () => {
			let bps = 0;
			for (const pc of window.videochat.peers().values())
				(await pc.getStats()).forEach((r) => {
					if (r.type === 'candidate-pair' && r.nominated && r.availableOutgoingBitrate) bps = r.availableOutgoingBitrate;
				});
			return bps;
		})()`))
	}
	s1, err := peer.LastSnapshot(stats)
	if err != nil {
		t.Fatal(err)
	}
	from0, from1 := robotView(t, s0, "sender"), robotView(t, s1, "sender")
	fps := float64(from1.Video.FramesReceived-from0.Video.FramesReceived) / s1.Time.Sub(s0.Time).Seconds()
	kbps := float64(from1.Video.BytesReceived-from0.Video.BytesReceived) * 8 / 1000 / s1.Time.Sub(s0.Time).Seconds()
	t.Logf("Chromium's estimate each second, bit/s: %.0f", outs)
	slices.Sort(outs)
	out := outs[len(outs)/2]
	t.Logf("under 500 kbit/s: native receives %.1f fps, %.0f kbit/s; Chromium's estimate %.0f kbit/s; freezes %d (longest %d ms), jitter %.1f ms, NACKs it sent us %d",
		fps, kbps, out/1000, from1.FreezeCount, from1.FreezeMaxMs, from1.JitterMillis, from1.NACKCount)
	if fps < 15 {
		t.Errorf("native receiver got %.1f fps from Chromium behind the bottleneck, want ≥ 15", fps)
	}
	// Adapted means near the link's rate, not at Chromium's unconstrained
	// estimate (megabits on loopback): an estimate probing above 500
	// kbit/s (501–613 kbit/s seen) is what a sender that found the
	// bottleneck does.
	if out <= 0 || out > 750_000 {
		t.Errorf("Chromium's available outgoing bitrate (median over the window) %.0f bit/s behind a 500 kbit/s link: not adapted", out)
	}
}
