package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/fakecam"
	"github.com/videochat/videochat/internal/pulsetest"
	"github.com/videochat/videochat/internal/testbin"
	"github.com/videochat/videochat/internal/xvfbtest"
	"github.com/videochat/videochat/peer"
)

// The tests in this file break a native peer's devices in the middle of a
// call, or before it: the X server of --video screen dies, a camera is
// busy, a microphone is refused.

// TestScreenXServerDies: the X server that `join --video screen` captures
// and shows its window on is killed mid-call. The process lives on (Xlib's
// default is exit), its window view ends with a warning, a
// native receiver still sees the peer connected with its audio flowing and
// video frames (the name card) arriving; when an X server is back on the
// display, the screen is captured again.
func TestScreenXServerDies(t *testing.T) {
	// --view window: the window view has its own X connection (SDL's) on
	// the same server, which dies too; both are registered with
	// capture/xio, so neither ends the process.
	view := "window"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d := xvfbtest.Start(t, 640, 480)
	d.Paint(xvfbtest.Quadrants(640, 480))
	_, url := startServer(ctx, t)
	d.Setenv(t)
	sender := start(t, joinArgs(url, "xdie", "screen", "--video", "screen", "--audio", "test", "--width", "320", "--height", "240",
		"--view", view, "--log-level", "info")...)
	stats := filepath.Join(t.TempDir(), "rx.json")
	start(t, joinArgs(url, "xdie", "rx", "--video", "none", "--audio", "none", "--view", "none", "--stats-json", stats)...)
	screenPeer := func(s peer.Snapshot) (peer.PeerStats, bool) {
		for _, p := range s.Peers {
			if p.Name == "screen" {
				return p, true
			}
		}
		return peer.PeerStats{}, false
	}
	before := waitStats(ctx, t, stats, func(s peer.Snapshot) bool {
		p, ok := screenPeer(s)
		return ok && p.Video.FramesReceived >= 30 && p.Audio.PacketsReceived >= 50
	})
	b, _ := screenPeer(before)
	waitOutput(ctx, t, sender, "window open")

	d.Kill()
	waitOutput(ctx, t, sender, "video device lost")
	waitOutput(ctx, t, sender, "X server gone; the call goes on without the view")
	after := waitStats(ctx, t, stats, func(s peer.Snapshot) bool {
		p, ok := screenPeer(s)
		// 5 s more of audio (20 ms packets) and of video frames
		return ok && p.State == "connected" &&
			p.Audio.PacketsReceived >= b.Audio.PacketsReceived+250 && p.Video.FramesReceived >= b.Video.FramesReceived+5*15
	})
	a, _ := screenPeer(after)
	t.Logf("after the X server's death: audio packets %d → %d, video frames %d → %d, state %s",
		b.Audio.PacketsReceived, a.Audio.PacketsReceived, b.Video.FramesReceived, a.Video.FramesReceived, a.State)

	d.Restart()
	waitOutput(ctx, t, sender, "video device is back")
	leavesCleanlyAfterXDeath(ctx, t, sender)
}

// leavesCleanlyAfterXDeath: p, which lived through its X server's death,
// printed no panic and no Xlib "X connection to … broken", and still
// leaves with exit code 0 when asked (SIGINT).
func leavesCleanlyAfterXDeath(ctx context.Context, t *testing.T, p *proc) {
	t.Helper()
	if out := p.output(); strings.Contains(out, "panic") || strings.Contains(out, "X connection to") {
		t.Errorf("output:\n%s", out)
	}
	p.signal(syscall.SIGINT)
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if code := p.wait(wctx); code != 0 {
		t.Errorf("exit %d after SIGINT, want 0:\n%s", code, p.output())
	}
}

// TestBusyDevices: a camera another program streams from (the fake
// camera driver answering EBUSY, as V4L2 does) and a microphone the sound
// server refuses (a real PulseAudio refusal, pulsetest.Refuse) make `join`
// exit 1 at once with one line naming the device and the way on.
func TestBusyDevices(t *testing.T) {
	bin := testbin.ForTest(t, "videochat-fakecam-", "fakecam")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	busy := filepath.Join(t.TempDir(), "busy")
	if err := os.WriteFile(busy, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(fakecam.EnvModels, "yuyv")
	t.Setenv(fakecam.EnvBusy, busy)
	pa := pulsetest.Start(t, pulsetest.Sink{Name: "vsink"})
	pa.AddMicrophone("vmic", "vsink")
	pa.Setenv(t)
	pa.Refuse("vmic")

	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--video", "camera", "--camera", "fake-yuyv", "--audio", "none"}, []string{`camera "fake-yuyv"`, "in use by another program", "--video test"}},
		{[]string{"--video", "none", "--audio", "mic", "--mic", "vmic"}, []string{"microphone vmic", "refused", "--audio test"}},
	} {
		p := startBinary(t, bin, false, joinArgs("http://127.0.0.1:1", "busy", "busy", c.args...)...)
		if code := p.wait(ctx); code != 1 {
			t.Errorf("%v: exit %d, want 1\n%s", c.args, code, p.output())
		}
		out := p.output()
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", c.args, w, out)
			}
		}
		if strings.Contains(out, "panic") {
			t.Errorf("%v: panic:\n%s", c.args, out)
		}
	}
}
