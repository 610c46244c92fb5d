package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/internal/procstat"
	"github.com/videochat/videochat/internal/xvfbtest"
	"github.com/videochat/videochat/peer"
)

// BenchmarkViewCPU: a room with two native senders (--video test
// --audio test, 640×480@30). A native viewer (receive-only token) and a
// headless Chromium page (same room, receive-only token) each show both.
// Reported: CPU cores used by each over 15 s, and their ratio. The native
// viewer runs as
//   - window: --view window under Xvfb with the renderer it picks (SDL's
//     software renderer here: the GL renderer would be Mesa's software
//     rasteriser llvmpipe);
//   - window-gl: the same with SDL_RENDER_DRIVER=opengl (llvmpipe);
//   - terminal: --view terminal in a 160×50 tmux pane.
//
// With VIDEOCHAT_VIEWBENCH_FILE=1 the senders send a pre-encoded VP8 file
// (ffmpeg's testsrc2, 640×480@30, 1 Mbps, looped) instead of encoding the
// test pattern live: on a loaded machine live senders lower their
// resolution and frame rate, which changes what both receivers decode.
//
// Run: go test -run '^$' -bench BenchmarkViewCPU -benchtime 1x ./e2e/
func BenchmarkViewCPU(b *testing.B) {
	for _, mode := range []string{"window", "window-gl", "terminal"} {
		b.Run(mode, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchViewCPU(b, mode)
			}
		})
	}
}

func benchViewCPU(b *testing.B, mode string) {
	browsertest.Require(b)
	d := xvfbtest.Start(b, 1280, 720)
	b.Setenv("DISPLAY", d.Name)
	if mode == "window-gl" {
		b.Setenv("SDL_RENDER_DRIVER", "opengl")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const secret = "bench-view-secret"
	_, url := startServer(ctx, b, "--token-secret", secret)
	mint := func(name string, extra ...string) string {
		p := start(b, append([]string{"token", "--token-secret", secret, "--room", "cpu", "--name", name}, extra...)...)
		p.wait(ctx)
		for _, l := range strings.Split(p.output(), "\n") {
			if l = strings.TrimSpace(l); strings.Count(l, ".") == 2 && !strings.Contains(l, " ") {
				return l
			}
		}
		b.Fatalf("no token in %q", p.output())
		return ""
	}
	video := "test"
	if os.Getenv("VIDEOCHAT_VIEWBENCH_FILE") != "" {
		video = benchIVF(ctx, b)
	}
	for _, n := range []string{"s1", "s2"} {
		start(b, joinArgs(url, "cpu", n, "--token", mint(n), "--video", video, "--audio", "test", "--view", "none")...)
	}
	stats := filepath.Join(b.TempDir(), "stats.jsonl")
	args := joinArgs(url, "cpu", "native", "--token", mint("native", "--can-publish=false"),
		"--video", "none", "--audio", "none", "--stats-json", stats)
	var viewerPID int
	if mode == "terminal" {
		quoted := []string{"exec", binPath}
		for _, a := range append(args, "--view", "terminal") {
			quoted = append(quoted, "'"+a+"'")
		}
		tm := startTmux(b, 160, 50, strings.Join(quoted, " ")+" 2>/dev/null")
		out, err := tm.run("list-panes", "-F", "#{pane_pid}")
		if viewerPID, err = strconv.Atoi(strings.TrimSpace(out)); err != nil {
			b.Fatalf("pane pid %q: %v", out, err)
		}
	} else {
		viewerPID = start(b, append(args, "--view", "window")...).pid()
	}
	pg := browsertest.Launch(b, browsertest.Options{Name: "web"})
	pg.Navigate(fmt.Sprintf("%s/room/cpu?name=web&token=%s", url, mint("web", "--can-publish=false")))
	pg.WaitFor("two remote videos playing", `[...document.querySelectorAll('video[data-peer-name]')].filter(v => v.videoWidth > 0 && !v.paused).length >= 2`, time.Minute)
	deadline := time.Now().Add(time.Minute)
	for {
		l, _ := peer.LastStatsLine[viewLine](stats)
		showing := 0 // the receive-only page is a third, dark tile
		if l.View != nil {
			for _, p := range l.View.Peers {
				if p.FramesDecoded > 30 {
					showing++
				}
			}
		}
		if showing == 2 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("native viewer shows no two peers: %+v", l.View)
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // settle
	self := os.Getpid()
	l0, _ := peer.LastStatsLine[viewLine](stats)
	native0, web0 := procCPU(viewerPID), chromiumCPU(self)
	start := time.Now()
	b.ResetTimer()
	time.Sleep(15 * time.Second)
	b.StopTimer()
	el := time.Since(start).Seconds()
	native := (procCPU(viewerPID) - native0) / el
	web := (chromiumCPU(self) - web0) / el
	l, _ := peer.LastStatsLine[viewLine](stats)
	b.ReportMetric(native, "native-cores")
	b.ReportMetric(web, "chromium-cores")
	b.ReportMetric(native/web, "native/chromium")
	// Frames the viewer decoded a second over the measured window (60
	// when both streams arrive whole at 30 fps; the stats lines come once
	// a second, so ± 2 frames).
	fps := float64(l.View.Total.FramesDecoded-l0.View.Total.FramesDecoded) / el
	b.ReportMetric(fps, "native-decoded/s")
	load, _ := os.ReadFile("/proc/loadavg")
	b.Logf("%s: native viewer %.3f cores, headless Chromium %.3f cores (ratio %.2f), %.1f frames decoded/s, load %s; native view counters %+v",
		mode, native, web, native/web, fps, strings.Fields(string(load))[0], l.View.Total)
}

// procCPU is the user+system CPU seconds of process pid.
func procCPU(pid int) float64 { return float64(cpuTicks(pid)) / procstat.ClockTicks }

// chromiumCPU sums the CPU seconds of the Chromium processes descended
// from root.
func chromiumCPU(root int) float64 {
	all, _ := procstat.FS{}.All()
	var ticks uint64
	for _, p := range procstat.Tree(all, root) {
		if strings.Contains(p.Comm, "chrom") {
			ticks += p.Ticks()
		}
	}
	return float64(ticks) / procstat.ClockTicks
}

// benchIVF encodes 20 s of ffmpeg's testsrc2 at 640×480@30 into a 1 Mbps
// VP8 IVF file (a key frame every 10 s) for the senders to loop.
func benchIVF(ctx context.Context, b *testing.B) string {
	requireFFmpeg(b)
	out := filepath.Join(b.TempDir(), "src.ivf")
	cmd := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=30",
		"-t", "20", "-c:v", "libvpx", "-b:v", "1M", "-deadline", "realtime", "-cpu-used", "8", "-g", "300", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("ffmpeg: %v: %s", err, msg)
	}
	return out
}
