package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
)

// requireFFmpeg skips without ffmpeg, or fails with CI=true.
func requireFFmpeg(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ffmpeg not installed (scripts/deps.sh test)")
		}
		t.Skip("ffmpeg not installed")
	}
}

// ffmpegTo runs ffmpeg with args (after the common flags) writing into out
// (nil: ffmpeg's output goes where args say). It is stopped at cleanup.
func ffmpegTo(t *testing.T, out io.WriteCloser, args ...string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-nostdin"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if out != nil {
		cmd.Stdout = out
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		if out != nil {
			out.Close()
		}
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("ffmpeg %v: %s", args, stderr.String())
		}
	})
}

// Live test video from ffmpeg, at real time (-re), for a minute at most.
var ffmpegVideo = []string{"-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "60", "-pix_fmt", "yuv420p"}

// x264 encodes as a Pi camera would be told to: no B-frames, a keyframe
// every second, each frame written at once. Debian's Chromium accepts
// H.264 Constrained Baseline, Baseline and Main (not High).
func x264(profile string) []string {
	return []string{"-c:v", "libx264", "-preset", "veryfast", "-profile:v", profile, "-bf", "0", "-g", "30", "-flush_packets", "1", "-f", "h264"}
}

// TestStreamsToBrowser: native peers whose media come from other programs,
// each shown live by a Chromium page —
//   - h264: `ffmpeg -c:v libx264 -profile:v main -f h264 - | videochat join --video -`;
//   - ivf: `ffmpeg -c:v libvpx -f ivf - | videochat join --video -`;
//   - tcpcam: `--video tcp://…` from `ffmpeg … -f h264 tcp://…?listen`, and
//     `--audio -` from `ffmpeg -c:a libopus -f ogg -` (a 440 Hz tone, heard
//     by the page).
func TestStreamsToBrowser(t *testing.T) {
	browsertest.Require(t)
	requireFFmpeg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, url := startServer(ctx, t)
	room := "pipes"

	h264 := startWithStdin(t, joinArgs(url, room, "h264", "--video", "-", "--audio", "none", "--log-level", "info")...)
	ffmpegTo(t, h264.stdin, append(append([]string{}, ffmpegVideo...), append(x264("main"), "-")...)...)

	ivf := startWithStdin(t, joinArgs(url, room, "ivf", "--video", "-", "--audio", "none", "--log-level", "info")...)
	ffmpegTo(t, ivf.stdin, append(append([]string{}, ffmpegVideo...),
		"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "500k", "-g", "30", "-flush_packets", "1", "-f", "ivf", "-")...)

	addr := freeAddr(t)
	ffmpegTo(t, nil, append(append([]string{}, ffmpegVideo...), append(x264("baseline"), "tcp://"+addr+"?listen")...)...)
	tcp := startWithStdin(t, joinArgs(url, room, "tcpcam", "--video", "tcp://"+addr, "--audio", "-", "--log-level", "info")...)
	ffmpegTo(t, tcp.stdin, "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "60", "-c:a", "libopus", "-b:a", "64k", "-page_duration", "20000", "-flush_packets", "1", "-f", "ogg", "-")

	pg := browsertest.Launch(t, browsertest.Options{Name: "viewer"})
	pg.Navigate(fmt.Sprintf("%s/room/%s?name=viewer", url, room))
	ids := map[string]string{}
	for _, name := range []string{"h264", "ivf", "tcpcam"} {
		sel, id := tileOf(pg, name)
		ids[name] = id
		pg.WaitFramesDecoded(id, 30)
		sd := pg.WaitNonBlack(sel)
		codec := browsertest.Eval[string](pg, fmt.Sprintf(`(async () => {
			const pc = window.videochat.peers().get(%s);
			const s = await pc.getStats();
			let id = '';
			s.forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') id = r.codecId; });
			const c = id && s.get(id);
			return c ? c.mimeType + ' ' + (c.sdpFmtpLine || '') : '';
		})()`, strconv.Quote(id)))
		t.Logf("%s: decoded, luma stddev %.1f, codec %s", name, sd, codec)
		want := "video/H264"
		if name == "ivf" {
			want = "video/VP8"
		}
		if !strings.HasPrefix(codec, want) {
			t.Errorf("%s: codec %q, want %s", name, codec, want)
		}
	}
	// The tone from stdin: packets with audio energy.
	pg.WaitFor("tcpcam's audio", fmt.Sprintf(`window.videochat.peers().get(%s).getStats().then((s) => {
		let ok = false;
		s.forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'audio' && r.packetsReceived > 100 && r.totalAudioEnergy > 0) ok = true; });
		return ok;
	})`, strconv.Quote(ids["tcpcam"])), time.Minute)
}

// waitOutput polls a process's output until it contains s.
func waitOutput(ctx context.Context, t *testing.T, p *proc, s string) {
	t.Helper()
	for !strings.Contains(p.output(), s) {
		select {
		case <-ctx.Done():
			t.Fatalf("no %q in the output:\n%s", s, p.output())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestStreamEndsAndBadInput: join leaves with exit 0 when its input ends;
// garbage, an empty pipe and two stdin sources give clear errors; a
// stalled producer does not keep it from leaving.
func TestStreamEndsAndBadInput(t *testing.T) {
	requireFFmpeg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, url := startServer(ctx, t)

	p := startWithStdin(t, joinArgs(url, "end", "short", "--video", "-", "--audio", "none")...)
	ffmpegTo(t, p.stdin, "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30", "-t", "2", "-c:v", "libvpx", "-f", "ivf", "-")
	if code := p.wait(ctx); code != 0 || !strings.Contains(p.output(), "input stream ended") {
		t.Errorf("end of input: exit %d, want 0 and a line saying so:\n%s", code, p.output())
	}

	for _, tc := range []struct {
		name  string
		args  []string
		input string
		code  int
		msg   string
	}{
		{"garbage", []string{"--video", "-", "--audio", "none"}, "this is not a video stream\n", 1, "want H.264 Annex-B"},
		{"empty", []string{"--video", "-", "--audio", "none"}, "", 1, "ended before any data"},
		{"audio garbage", []string{"--video", "none", "--audio", "-"}, "\x00\x00\x00\x01\x67\x42", 1, "want Ogg/Opus"},
		{"both stdin", []string{"--video", "-", "--audio", "-"}, "", 2, "only one source"},
	} {
		p := startWithStdin(t, joinArgs(url, "bad", tc.name, tc.args...)...)
		_, _ = io.WriteString(p.stdin, tc.input)
		p.stdin.Close()
		code := p.wait(ctx)
		if out := p.output(); code != tc.code || !strings.Contains(out, tc.msg) || strings.Contains(out, "panic") {
			t.Errorf("%s: exit %d, want %d saying %q:\n%s", tc.name, code, tc.code, tc.msg, out)
		}
	}

	// A producer that stalls mid-stream (it keeps the pipe open): the stall
	// is logged and join still leaves on SIGINT.
	st := startWithStdin(t, joinArgs(url, "stall", "stall", "--video", "-", "--audio", "none", "--log-level", "info")...)
	ivf, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30",
		"-t", "1", "-c:v", "libvpx", "-f", "ivf", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.stdin.Write(ivf); err != nil {
		t.Fatal(err)
	}
	waitOutput(ctx, t, st, "input stalled")
	st.signal(syscall.SIGINT)
	if code := st.wait(ctx); code != 0 {
		t.Errorf("SIGINT during a stall: exit %d, want 0:\n%s", code, st.output())
	}
	st.stdin.Close()

	// A producer that never writes: join still obeys --duration.
	start := time.Now()
	stall := startWithStdin(t, joinArgs(url, "stall", "stall", "--video", "-", "--audio", "none", "--duration", "2s")...)
	defer stall.stdin.Close()
	code := stall.wait(ctx)
	t.Logf("stalled input: exit %d after %v", code, time.Since(start))
	if !strings.Contains(stall.output(), "no video stream header within") {
		t.Errorf("stalled input: exit %d:\n%s", code, stall.output())
	}
}
