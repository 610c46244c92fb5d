package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/internal/pulsetest"
	"github.com/videochat/videochat/internal/tonetest"
	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/playback"
)

const hearRate = 48000

// playStats is the part of a --stats-json line that playback adds.
type playStats struct {
	Time          time.Time              `json:"time"`
	Playback      []playback.StreamStats `json:"playback"`
	PlayedSamples uint64                 `json:"played_samples"`
}

// waitPlaying waits until the listener's stats show name's audio decoded
// (≥ 100 packets) and returns those stats.
func waitPlaying(ctx context.Context, t *testing.T, path, name string) playback.StreamStats {
	t.Helper()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last playStats
	for {
		if s, err := peer.LastStatsLine[playStats](path); err == nil {
			last = s
			for _, st := range s.Playback {
				if st.PeerName == name && st.PacketsDecoded >= 100 {
					return st
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s's audio never played; last playback stats: %+v", name, last)
		case <-tick.C:
		}
	}
}

// waitHeardLag waits until name's stream reports its heard lag (the
// sender reports arrived and audio plays) and returns it.
func waitHeardLag(ctx context.Context, t *testing.T, path, name string) float64 {
	t.Helper()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if s, err := peer.LastStatsLine[playStats](path); err == nil {
			for _, st := range s.Playback {
				if st.PeerName == name && st.HeardLagMillis != 0 {
					return st.HeardLagMillis
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s's stream never knew its sender time", name)
		case <-tick.C:
		}
	}
}

// waitGone waits until no stream of name is mixed any more.
func waitGone(ctx context.Context, t *testing.T, path, name string) {
	t.Helper()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		s, err := peer.LastStatsLine[playStats](path)
		gone := err == nil
		for _, st := range s.Playback {
			gone = gone && st.PeerName != name
		}
		if gone {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s's audio is still mixed: %+v", name, s.Playback)
		case <-tick.C:
		}
	}
}

// recordSink records dur of the sink's monitor (mono, 48 kHz).
func recordSink(t *testing.T, srv *pulsetest.Server, sink string, dur time.Duration) []int16 {
	t.Helper()
	rec := srv.Record(sink, hearRate)
	time.Sleep(dur) // the recording's length is what is asked for
	return rec.Stop()
}

// recordUntil records the "spk" monitor in 2 s pieces until what was
// recorded satisfies ok, for at most 20 s (on a loaded machine the sound
// server and Chromium's fake microphone fall behind real time, so a fixed
// length may hold too little), and returns it all.
func recordUntil(t *testing.T, srv *pulsetest.Server, ok func([]int16) bool) []int16 {
	t.Helper()
	var all []int16
	for range 10 {
		all = append(all, recordSink(t, srv, "spk", 2*time.Second)...)
		if ok(all) {
			break
		}
	}
	return all
}

// Recordings are judged in 20 ms windows every 10 ms, so that a short
// beep lies whole in some window, and gaps (the sound server or the
// listener stalled on a loaded machine) only cost the windows they touch.
const (
	win = hearRate / 50
	hop = hearRate / 100
)

// toneWindows is the fraction of the windows with sound in which freq
// holds most of the power (the native test tone is continuous).
func toneWindows(x []int16, freq float64) float64 {
	var sound, hits int
	for i := 0; i+win <= len(x); i += hop {
		w := x[i : i+win]
		if tonetest.RMS(w) < 0.02 {
			continue
		}
		sound++
		if tonetest.Share(w, freq, hearRate) > 0.6 {
			hits++
		}
	}
	return float64(hits) / float64(max(sound, 1))
}

// beeps counts the bursts of 400 Hz in x: runs of windows with an RMS over
// 0.05 where 400 Hz holds most of the power and more than twice what 440 Hz
// holds (Chromium's fake microphone beeps at 400 Hz for 20 ms, about every
// 500 ms; the native tone is 440 Hz).
func beeps(x []int16) int {
	n, in := 0, false
	for i := 0; i+win <= len(x); i += hop {
		w := x[i : i+win]
		s400 := tonetest.Share(w, 400, hearRate)
		b := tonetest.RMS(w) > 0.05 && s400 > 0.6 && s400 > 2*tonetest.Share(w, 440, hearRate)
		if b && !in {
			n++
		}
		in = b
	}
	return n
}

// TestHearNativeAndBrowser: a native listener whose --speaker is a
// PulseAudio null sink plays what a native --audio test peer and a
// Chromium page (fake microphone) send. Recording the sink's monitor holds
// the native tone (440 Hz, capture/tone.go), then both it and Chromium's
// beeps, then only the beeps once the native peer left; the listener's
// mixer inputs come and go with the peers.
func TestHearNativeAndBrowser(t *testing.T) {
	browsertest.Require(t)
	// "other" is the default sink (where Chromium and everything else play),
	// "spk" only the listener's speaker.
	srv := pulsetest.Start(t, pulsetest.Sink{Name: "other"}, pulsetest.Sink{Name: "spk"})
	srv.Setenv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, url := startServer(ctx, t)
	stats := filepath.Join(t.TempDir(), "ear.jsonl")
	start(t, joinArgs(url, "hear", "ear", "--video", "none", "--audio", "none", "--speaker", "spk", "--stats-json", stats)...)
	joinTone := func() *proc {
		return start(t, joinArgs(url, "hear", "tone", "--video", "none", "--audio", "test", "--speaker", "none")...)
	}
	tone := joinTone()
	waitPlaying(ctx, t, stats, "tone")
	// Lip-sync clock: from the tone peer's RTCP sender reports (same wall
	// clock here), what is heard now was sent a little while ago.
	// A loaded machine can hold more audio than usual in the buffers as
	// playback starts: the lag is judged once it has settled, within 30 s.
	var lag float64
	for settle := time.Now().Add(30 * time.Second); ; {
		if lag = waitHeardLag(ctx, t, stats, "tone"); (lag > 0 && lag <= 1000) || time.Now().After(settle) {
			break
		}
		time.Sleep(250 * time.Millisecond) // polling the stats file
	}
	t.Logf("heard lag of tone: %.0f ms", lag)
	if lag <= 0 || lag > 1000 {
		t.Errorf("SenderTimeNow is %.0f ms behind the sender's clock, want (0, 1000]", lag)
	}

	ps0, _ := peer.LastStatsLine[playStats](stats)
	// Until the tone fills the recording: on a loaded machine the sound
	// server falls behind real time (see recordUntil).
	rec := recordUntil(t, srv, func(x []int16) bool { return toneWindows(x, 440) >= 0.6 })
	ps1, _ := peer.LastStatsLine[playStats](stats)
	t.Logf("device clock: %.2f s played in %.2f s", float64(ps1.PlayedSamples-ps0.PlayedSamples)/hearRate, ps1.Time.Sub(ps0.Time).Seconds())
	tw, nb := toneWindows(rec, 440), beeps(rec)
	t.Logf("native only: 440 Hz in %.0f%% of windows, %d beeps", 100*tw, nb)
	if tw < 0.6 || nb != 0 {
		t.Errorf("native only: want the 440 Hz tone (%.2f of windows, want ≥ 0.6) and no beeps (%d)", tw, nb)
	}

	pg := browsertest.Launch(t, browsertest.Options{Name: "alice"})
	pg.Navigate(fmt.Sprintf("%s/room/hear?name=alice", url))
	waitPlaying(ctx, t, stats, "alice")
	rec = recordUntil(t, srv, func(x []int16) bool { return toneWindows(x, 440) >= 0.5 && beeps(x) >= 2 })
	tw, nb = toneWindows(rec, 440), beeps(rec)
	t.Logf("both: %.1f s, 440 Hz in %.0f%% of windows, %d beeps", float64(len(rec))/hearRate, 100*tw, nb)
	if tw < 0.5 || nb < 2 {
		t.Errorf("mix of both: want the tone (%.2f of windows, want ≥ 0.5) and Chromium's beeps (%d, want ≥ 2)", tw, nb)
	}

	tone.stop(5 * time.Second)
	waitGone(ctx, t, stats, "tone")
	rec = recordUntil(t, srv, func(x []int16) bool { return beeps(x) >= 2 })
	tw, nb = toneWindows(rec, 440), beeps(rec)
	t.Logf("browser only: %.1f s, 440 Hz in %.0f%% of windows, %d beeps", float64(len(rec))/hearRate, 100*tw, nb)
	if tw > 0.2 || nb < 2 {
		t.Errorf("browser only: want beeps (%d, want ≥ 2) and no tone (%.2f of windows)", nb, tw)
	}

	// The native peer comes back: a new mixer input, played again.
	joinTone()
	st := waitPlaying(ctx, t, stats, "tone")
	t.Logf("tone again: %+v", st)
	if ps, err := peer.LastStatsLine[playStats](stats); err == nil {
		for _, x := range ps.Playback {
			t.Logf("ear plays %s: %+v", x.PeerName, x)
		}
	}
}

// TestSpeakerChoice: `videochat devices` lists PulseAudio sinks by name as
// speakers; an unknown --speaker is a usage error (exit 2); without any
// sound server the listener warns once and still plays the room (its
// mixer decodes on a clock).
func TestSpeakerChoice(t *testing.T) {
	srv := pulsetest.Start(t, pulsetest.Sink{Name: "spk"})
	srv.Setenv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	out, err := exec.CommandContext(ctx, binPath, "devices", "--json").Output()
	if err != nil {
		t.Fatalf("devices: %v", err)
	}
	var devs []struct{ ID, Kind string }
	if err := json.Unmarshal(out, &devs); err != nil {
		t.Fatalf("devices --json: %v\n%s", err, out)
	}
	if !slices.ContainsFunc(devs, func(d struct{ ID, Kind string }) bool { return d.ID == "spk" && d.Kind == "speaker" }) {
		t.Errorf("devices %s: want speaker spk", out)
	}

	_, url := startServer(ctx, t)
	bad := start(t, joinArgs(url, "spk", "ear", "--video", "none", "--audio", "none", "--speaker", "no-such-sink")...)
	if code := bad.wait(ctx); code != 2 {
		t.Errorf("--speaker no-such-sink: exit %d, want 2 (usage)", code)
	}

	dir := t.TempDir()
	t.Setenv("PULSE_SERVER", "unix:"+filepath.Join(dir, "nothing"))
	empty := filepath.Join(dir, "asound.conf") // and no ALSA device, even on a machine with a card
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALSA_CONFIG_PATH", empty)
	start(t, joinArgs(url, "spk", "tone", "--video", "none", "--audio", "test", "--speaker", "none")...)
	stats := filepath.Join(dir, "ear.jsonl")
	ear := start(t, joinArgs(url, "spk", "ear", "--video", "none", "--audio", "none", "--stats-json", stats, "--log-level", "info")...)
	waitPlaying(ctx, t, stats, "tone")
	ear.stop(5 * time.Second)
	if n := strings.Count(ear.output(), "no audio output device"); n != 1 {
		t.Errorf("want one warning about the missing output, got %d in:\n%s", n, ear.output())
	}
}
