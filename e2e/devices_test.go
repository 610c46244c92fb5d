package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/internal/pulsetest"
	"github.com/videochat/videochat/internal/tonetest"
	"github.com/videochat/videochat/internal/xvfbtest"
)

// The tests in this file run the binary against real device drivers: a
// throw-away PulseAudio (a null sink fed a tone by paplay; a remapped
// source of its monitor as the default microphone) and an Xvfb display,
// with a headless Chromium and a recording native peer as receivers.

// TestQuietWithoutDevices: commands that need no device load no audio
// library, so nothing is printed on stderr (the ALSA/JACK chatter of a
// machine with the libraries and no sound card).
func TestQuietWithoutDevices(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"serve", "--help"}, {"token", "--room", "r", "--name", "n", "--token-secret", "0123456789abcdef0123456789abcdef"},
	} {
		cmd := exec.Command(binPath, args...)
		cmd.Env = append(cmd.Environ(), "PULSE_SERVER=unix:/nonexistent") // as on a server without sound
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Errorf("videochat %s: %v", strings.Join(args, " "), err)
		}
		if stderr.Len() > 0 {
			t.Errorf("videochat %s printed on stderr:\n%s", strings.Join(args, " "), stderr.String())
		}
	}
	// serve logs its own lines; none of them may come from an audio library.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, _ := startServer(ctx, t)
	srv.stop(5 * time.Second)
	for _, noise := range []string{"ALSA", "jack", "Jack", "Cannot connect"} {
		if strings.Contains(srv.output(), noise) {
			t.Errorf("serve printed audio library chatter (%q):\n%s", noise, srv.output())
		}
	}
}

// TestMicToneToBrowserAndRecording: a 440 Hz tone played into the virtual
// microphone is sent by `join --audio mic` (the default device path) and
// arrives in Chromium with its energy at 440 Hz (WebAudio AnalyserNode),
// and in another native peer's recording (decoded by ffmpeg) as 440 Hz —
// from 48 kHz stereo, 44.1 kHz mono and 16 kHz mono sources.
func TestMicToneToBrowserAndRecording(t *testing.T) {
	browsertest.Require(t)
	ffmpeg := requireTool(t, "ffmpeg")
	for _, c := range []struct{ rate, ch int }{{48000, 2}, {44100, 1}, {16000, 1}} {
		t.Run(fmt.Sprintf("%d-%dch", c.rate, c.ch), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			// The first sink is the default output: Chromium plays into it,
			// not into the microphone's sink.
			pa := pulsetest.Start(t, pulsetest.Sink{Name: "speaker"}, pulsetest.Sink{Name: "vsink", Rate: c.rate, Channels: c.ch})
			pa.AddMicrophone("vmic", "vsink")
			pa.SetDefaultSource("vmic")
			pa.Play("vsink", c.rate, c.ch, "600", "sine", "440", "gain", "-6")
			pa.Setenv(t)

			_, url := startServer(ctx, t)
			room := fmt.Sprintf("mic%d", c.rate)
			start(t, joinArgs(url, room, "mic", "--video", "test", "--audio", "mic", "--log-level", "info")...)
			dir := t.TempDir()
			rec := start(t, joinArgs(url, room, "rec", "--video", "none", "--audio", "none", "--record", dir, "--duration", "10s")...)

			pg := browsertest.Launch(t, browsertest.Options{Name: "listener"})
			pg.Navigate(fmt.Sprintf("%s/room/%s?name=listener", url, room))
			sel := strconv.Quote(`video[data-peer-name="mic"]`)
			pg.WaitFor("mic's tile with audio", fmt.Sprintf(`(() => { const v = document.querySelector(%s); return v && v.srcObject && v.srcObject.getAudioTracks().length > 0; })()`, sel), time.Minute)
			// The first second may still be silence (streams starting):
			// listen again until the tone is there or 30 s have passed.
			var peak float64
			for begin := time.Now(); time.Since(begin) < 30*time.Second; {
				if peak = browsertest.Eval[float64](pg, fmt.Sprintf(analyserJS, sel)); peak > 420 && peak < 460 {
					break
				}
			}
			if peak < 420 || peak > 460 {
				t.Errorf("Chromium hears its loudest frequency at %.0f Hz, want 440", peak)
			}
			t.Logf("Chromium: loudest frequency %.0f Hz", peak)

			if code := rec.wait(ctx); code != 0 {
				t.Fatalf("recorder exit %d", code)
			}
			files, _ := filepath.Glob(filepath.Join(dir, room+"-mic-*.webm"))
			if len(files) != 1 {
				t.Fatalf("want one %s-mic-*.webm, got %v", room, files)
			}
			pcm, err := exec.CommandContext(ctx, ffmpeg, "-v", "error", "-i", files[0], "-vn", "-ac", "1", "-ar", "48000", "-f", "f32le", "-").Output()
			if err != nil {
				t.Fatalf("ffmpeg: %v", err)
			}
			x := make([]float32, len(pcm)/4)
			_ = binary.Read(bytes.NewReader(pcm), binary.LittleEndian, x)
			// The recorder starts writing at its first video keyframe, which
			// can come late (TestRecording checks durations); judge the
			// last second.
			t.Logf("recording: %.1f s of audio", float64(len(x))/48000)
			if len(x) < 48000 {
				t.Fatalf("recording has %.1f s of audio, want ≥ 1", float64(len(x))/48000)
			}
			tail := x[len(x)-48000:]
			at := tonetest.Amplitude(tail, 440, 48000)
			for _, f := range []float64{220, 330, 550, 660, 880, 1000, 2000} {
				if o := tonetest.Amplitude(tail, f, 48000); o > at/30 {
					t.Errorf("recording: %.0f Hz at %.4f, 440 Hz only %.4f", f, o, at)
				}
			}
			if at < 0.1 {
				t.Errorf("recording: 440 Hz at amplitude %.3f, want ≈ 0.5", at)
			}
			t.Logf("recording: 440 Hz amplitude %.3f", at)
		})
	}
}

// analyserJS returns the frequency (Hz) of the loudest bin of the audio of
// the <video> %s, averaged over ≈ 1 s by a WebAudio AnalyserNode.
const analyserJS = `(async () => {
	const v = document.querySelector(%s);
	const ctx = new AudioContext();
	await ctx.resume();
	const an = ctx.createAnalyser();
	an.fftSize = 8192;
	an.smoothingTimeConstant = 0;
	ctx.createMediaStreamSource(v.srcObject).connect(an);
	const sum = new Float32Array(an.frequencyBinCount);
	const bins = new Float32Array(an.frequencyBinCount);
	for (let i = 0; i < 20; i++) {
		await new Promise((r) => setTimeout(r, 50));
		an.getFloatFrequencyData(bins);
		for (let k = 0; k < bins.length; k++) sum[k] += Math.pow(10, bins[k] / 20);
	}
	let best = 1;
	for (let k = 1; k < sum.length; k++) if (sum[k] > sum[best]) best = k;
	ctx.close();
	return best * ctx.sampleRate / an.fftSize;
})()`

// TestScreenToBrowser: `join --video screen` of an Xvfb display showing
// four coloured quadrants reaches Chromium with each colour in its place.
func TestScreenToBrowser(t *testing.T) {
	browsertest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d := xvfbtest.Start(t, 640, 480)
	d.Paint(xvfbtest.Quadrants(640, 480))
	_, url := startServer(ctx, t)
	d.Setenv(t) // for the native peer only; headless Chromium ignores it
	start(t, joinArgs(url, "screen", "screen", "--video", "screen", "--audio", "none", "--width", "320", "--height", "240",
		"--view", "none")...) // a window on the captured display would be captured

	pg := browsertest.Launch(t, browsertest.Options{Name: "viewer"})
	pg.Navigate(url + "/room/screen?name=viewer")
	sel, id := tileOf(pg, "screen")
	pg.WaitFramesDecoded(id, 10)
	size := browsertest.Eval[[]int](pg, fmt.Sprintf(`(() => { const v = document.querySelector(%s); return [v.videoWidth, v.videoHeight]; })()`, strconv.Quote(sel)))
	if len(size) != 2 || size[0] != 320 || size[1] != 240 {
		t.Errorf("Chromium shows %v, want 320x240", size)
	}
	px := browsertest.Eval[[]int](pg, fmt.Sprintf(`(() => {
		const v = document.querySelector(%s);
		const c = document.createElement('canvas');
		c.width = v.videoWidth; c.height = v.videoHeight;
		const g = c.getContext('2d');
		g.drawImage(v, 0, 0);
		const at = (x, y) => [...g.getImageData(Math.floor(x * c.width), Math.floor(y * c.height), 1, 1).data.slice(0, 3)];
		return [...at(0.25, 0.25), ...at(0.75, 0.25), ...at(0.25, 0.75), ...at(0.75, 0.75)];
	})()`, strconv.Quote(sel)))
	want := [][3]int{{220, 20, 20}, {20, 220, 20}, {20, 20, 220}, {255, 255, 255}}
	for i, w := range want {
		if len(px) < 12 {
			t.Fatalf("pixels %v", px)
		}
		got := px[i*3 : i*3+3]
		for k := range 3 {
			if math.Abs(float64(got[k]-w[k])) > 40 {
				t.Errorf("quadrant %d: Chromium shows %v, want ≈ %v", i, got, w)
				break
			}
		}
	}
	t.Logf("Chromium shows %v at the quadrant centres", px)
}

// TestBadDevices: a device that is not there is a usage error (exit 2)
// that lists the devices; nothing panics or hangs.
func TestBadDevices(t *testing.T) {
	pa := pulsetest.Start(t, pulsetest.Sink{Name: "vsink"})
	pa.AddMicrophone("vmic", "vsink")
	pa.Setenv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	out, err := exec.CommandContext(ctx, binPath, "devices", "--json").Output()
	if err != nil {
		t.Fatalf("devices --json: %v", err)
	}
	var devs []struct {
		ID      string `json:"id"`
		Kind    string `json:"kind"`
		Default bool   `json:"default"`
		Modes   []struct {
			Rate     int    `json:"rate"`
			Channels int    `json:"channels"`
			Format   string `json:"format"`
		} `json:"modes"`
	}
	if err := json.Unmarshal(out, &devs); err != nil {
		t.Fatalf("devices --json: %v\n%s", err, out)
	}
	found := false
	for _, d := range devs {
		if d.ID == "vmic" {
			found = d.Kind == "microphone" && len(d.Modes) > 0 && d.Modes[0].Rate == 48000 && d.Modes[0].Format == "s16"
		}
		if d.ID == "vsink.monitor" && d.Default {
			t.Errorf("a monitor is the default microphone: %s", out)
		}
	}
	if !found {
		t.Errorf("devices --json lacks vmic with its 48 kHz s16 mode: %s", out)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--video", "none", "--audio", "mic", "--mic", "nope"}, "vmic"},
		{[]string{"--video", "camera", "--camera", "nope", "--audio", "none"}, "no camera"},
		{[]string{"--video", "screen:3", "--audio", "none"}, "no screen"},
	} {
		p := start(t, joinArgs("http://127.0.0.1:1", "bad", "bad", c.args...)...)
		if code := p.wait(ctx); code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", c.args, code, p.output())
		}
		if out := p.output(); !strings.Contains(out, c.want) || strings.Contains(out, "panic") {
			t.Errorf("%v: output lacks %q:\n%s", c.args, c.want, out)
		}
	}
}

// requireTool returns the path of a command-line tool, or ends the test
// when it is missing: a failure in CI, a loud skip elsewhere.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		msg := fmt.Sprintf("\n*** %s NOT FOUND: this test did NOT run. Install it: scripts/deps.sh test ***", name)
		if ci() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}
