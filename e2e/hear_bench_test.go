package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/internal/pulsetest"
	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/playback"
)

// BenchmarkAudioPlayout compares the audio playout delay of the native
// peer with Chromium's for the same stream. A native `--audio test` peer
// sends its tone to a native listener (playing on a PulseAudio null sink,
// a real device) and to a headless Chromium page in the same room. Over
// b.N seconds it reports, for that stream:
//
//	native-ms:     playback's jitter buffer + decode delay, packet arrival
//	               to hand-off to the device (JitterBufferDelay /
//	               JitterBufferEmittedCount, the same definition as
//	               Chromium's);
//	chromium-ms:   Chromium's jitterBufferDelay / jitterBufferEmittedCount;
//	native-conc-%, chromium-conc-%: concealed samples / samples played
//	               (loopback: 0 % loss);
//	native-target-ms: the native jitter buffer's target at the end;
//	device-rate:   audio the listener's output took per wall-clock second
//	               (1: real time).
//
// Sub-benchmarks: speaker=pulse plays on the null sink through malgo;
// speaker=none pulls the mixer on a clock (no device), which shows what
// the sound server's timing adds.
//
// Run: go test ./e2e -run '^$' -bench BenchmarkAudioPlayout -benchtime 30x
func BenchmarkAudioPlayout(b *testing.B) {
	browsertest.Require(b)
	b.Run("speaker=pulse", func(b *testing.B) { benchPlayout(b, "spk") })
	b.Run("speaker=none", func(b *testing.B) { benchPlayout(b, playback.SpeakerNone) })
}

func benchPlayout(b *testing.B, speaker string) {
	srv := pulsetest.Start(b, pulsetest.Sink{Name: "other"}, pulsetest.Sink{Name: "spk"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	url := startBenchServer(ctx, b)
	room := fmt.Sprintf("playout-%d", time.Now().UnixNano())
	stats := filepath.Join(b.TempDir(), "ear.jsonl")
	startBenchJoin(b, srv.Env(), joinArgs(url, room, "ear", "--video", "none", "--audio", "none", "--speaker", speaker, "--stats-json", stats)...)
	startBenchJoin(b, srv.Env(), joinArgs(url, room, "tone", "--video", "none", "--audio", "test", "--speaker", "none")...)
	pg := browsertest.Launch(b, browsertest.Options{Name: "chromium"})
	pg.Navigate(fmt.Sprintf("%s/room/%s?name=chromium", url, room))

	wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer wcancel()
	toneID := waitPlayingTB(wctx, b, stats, "tone").PeerID
	pg.WaitFor("audio from tone", fmt.Sprintf(`window.videochat && window.videochat.peers().get(%s) &&
		window.videochat.peers().get(%[1]s).getStats().then((s) => [...s.values()].some((r) => r.type === 'inbound-rtp' && r.kind === 'audio' && r.jitterBufferEmittedCount > 48000))`,
		strconv.Quote(toneID)), time.Minute)
	time.Sleep(2 * time.Second) // let both settle after the start; what follows is measured

	n0, p0 := nativeAudio(b, stats, toneID)
	c0 := chromiumAudio(b, pg, toneID)
	b.ResetTimer()
	for range b.N {
		time.Sleep(time.Second) // the benchmark's unit: one second of playout
	}
	b.StopTimer()
	n1, p1 := nativeAudio(b, stats, toneID)
	c1 := chromiumAudio(b, pg, toneID)

	nd := (n1.JitterBufferDelay - n0.JitterBufferDelay) / float64(n1.JitterBufferEmittedCount-n0.JitterBufferEmittedCount)
	cd := (c1.Delay - c0.Delay) / (c1.Emitted - c0.Emitted)
	b.ReportMetric(nd*1000, "native-ms")
	b.ReportMetric(cd*1000, "chromium-ms")
	b.ReportMetric(100*float64(n1.ConcealedSamples-n0.ConcealedSamples)/float64(max(1, n1.TotalSamples-n0.TotalSamples)), "native-conc-%")
	b.ReportMetric(100*(c1.Concealed-c0.Concealed)/max(1, c1.Total-c0.Total), "chromium-conc-%")
	b.ReportMetric(n1.TargetDelayMillis, "native-target-ms")
	// How fast the listener's output took audio against the wall clock
	// (1.0: real time; below: the sound server lost time).
	b.ReportMetric(float64(p1.PlayedSamples-p0.PlayedSamples)/hearRate/p1.Time.Sub(p0.Time).Seconds(), "device-rate")
	b.Logf("native: %+v", n1)
	b.Logf("chromium: %+v", c1)
}

// chromiumStats are the inbound-rtp audio counters of one page connection.
type chromiumStats struct {
	Delay, Emitted, Concealed, Total float64
}

func chromiumAudio(tb testing.TB, pg *browsertest.Page, peerID string) chromiumStats {
	tb.Helper()
	v, err := browsertest.EvalErr[chromiumStats](pg, fmt.Sprintf(`(async () => {
		const out = {Delay: 0, Emitted: 0, Concealed: 0, Total: 0};
		(await window.videochat.peers().get(%s).getStats()).forEach((r) => {
			if (r.type !== 'inbound-rtp' || r.kind !== 'audio') return;
			out.Delay += r.jitterBufferDelay; out.Emitted += r.jitterBufferEmittedCount;
			out.Concealed += r.concealedSamples; out.Total += r.totalSamplesReceived;
		});
		return out;
	})()`, strconv.Quote(peerID)))
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func nativeAudio(tb testing.TB, path, peerID string) (playback.StreamStats, playStats) {
	tb.Helper()
	time.Sleep(1100 * time.Millisecond) // the listener writes its stats once a second: take a fresh line
	s, err := peer.LastStatsLine[playStats](path)
	if err != nil {
		tb.Fatal(err)
	}
	for _, st := range s.Playback {
		if st.PeerID == peerID {
			return st, s
		}
	}
	tb.Fatalf("no playback stats for %s: %+v", peerID, s)
	return playback.StreamStats{}, s
}

// waitPlayingTB is waitPlaying for benchmarks.
func waitPlayingTB(ctx context.Context, tb testing.TB, path, name string) playback.StreamStats {
	tb.Helper()
	for {
		if s, err := peer.LastStatsLine[playStats](path); err == nil {
			for _, st := range s.Playback {
				if st.PeerName == name && st.PacketsDecoded >= 100 {
					return st
				}
			}
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("%s's audio never played", name)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// startBenchJoin runs videochat with args and the extra environment env;
// it is interrupted (then killed) when the benchmark ends.
func startBenchJoin(tb testing.TB, env []string, args ...string) {
	tb.Helper()
	startWithEnv(tb, env, args...)
}
