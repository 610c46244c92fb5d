package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/videochat/videochat/peer"
)

// BenchmarkWHIPForward measures the server's cost of WHIP/WHEP forwarding
// with real processes on loopback: `serve --whip --whep`, a publisher
// `join --whip` encoding the test pattern (VP8 640×480 30 fps + Opus), and
//
//	whip-N: N native room participants receiving the publisher (N = 1, 4, 7)
//	mesh-N: the same publisher as an ordinary native room participant, sending
//	        to N native receivers itself (no server media: the baseline)
//	whep-N: one native room participant publishing, N `join --whep` players
//
// For each it reports the server's CPU (cores, over a 15 s window after
// 8 s of warm-up) and its RSS growth, and, for comparison, the CPU of the
// native peer that encodes the same stream (the WHIP publisher in whip-N,
// the room participant in whep-N). Forwarding must not transcode: the
// server's share must stay a small fraction of the encoder's.
//
// Run: go test ./e2e -run '^$' -bench WHIPForward -benchtime 1x
func BenchmarkWHIPForward(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	srv, url := startChildServer(ctx, b, "--whip", "--whep", "--max-peers", "16")
	net := []string{"--ice-interface", "lo", "--mdns=false", "--log-level", "error"}
	media := []string{"--video", "test", "--audio", "test"}
	// The publisher of an N-receiver room: a WHIP client, or a room member.
	publisher := map[string]func(room string) []string{
		"whip": func(room string) []string { return []string{"join", "--whip", url + "/whip/" + room + "?name=pub"} },
		"mesh": func(room string) []string { return []string{"join", "--server", url, "--room", room, "--name", "pub"} },
	}
	for _, kind := range []string{"whip", "mesh"} {
		for _, n := range []int{1, 4, 7} {
			b.Run(fmt.Sprintf("%s-%d", kind, n), func(b *testing.B) {
				room := fmt.Sprintf("%s%d-%d", kind, n, time.Now().UnixNano())
				var kids []*proc
				stats := filepath.Join(b.TempDir(), "rx.jsonl")
				for i := range n {
					args := []string{"join", "--server", url, "--room", room, "--name", fmt.Sprintf("rx%d", i), "--video", "none", "--audio", "none"}
					if i == n-1 {
						args = append(args, "--stats-json", stats)
					}
					kids = append(kids, start(b, append(args, net...)...))
				}
				pub := start(b, append(append(publisher[kind](room), media...), net...)...)
				report(ctx, b, srv, pub, stats)
				stopAll(append(kids, pub))
			})
		}
	}
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("whep-%d", n), func(b *testing.B) {
			room := fmt.Sprintf("whep%d-%d", n, time.Now().UnixNano())
			src := start(b, append(append([]string{"join", "--server", url, "--room", room, "--name", "src"}, media...), net...)...)
			time.Sleep(2 * time.Second) // the source joins before the players ask for it
			kids := []*proc{src}
			stats := filepath.Join(b.TempDir(), "player.jsonl")
			for i := range n {
				args := []string{"join", "--whep", url + "/whep/" + room + "/src"}
				if i == n-1 {
					args = append(args, "--stats-json", stats)
				}
				kids = append(kids, start(b, append(args, net...)...))
			}
			report(ctx, b, srv, src, stats)
			stopAll(kids)
		})
	}
}

// report measures srv and the encoding peer over one window and reports,
// with the video bitrate and frame rate at the receiver whose --stats-json
// is stats.
func report(ctx context.Context, b *testing.B, srv, enc *proc, stats string) {
	rss0 := rssKB(srv.pid())
	select {
	case <-time.After(8 * time.Second):
	case <-ctx.Done():
		b.Fatal(ctx.Err())
	}
	const window = 15 * time.Second
	s0, e0 := cpuTicks(srv.pid()), cpuTicks(enc.pid())
	r0, _ := peer.LastSnapshot(stats)
	time.Sleep(window)
	s1, e1 := cpuTicks(srv.pid()), cpuTicks(enc.pid())
	r1, err := peer.LastSnapshot(stats)
	if err != nil || r1.Check(1) != nil || len(r0.Peers) == 0 {
		b.Fatalf("the measured receiver did not get the stream: %v %v", err, r1.Check(1))
	}
	bytes := r1.Peers[0].Video.BytesReceived - r0.Peers[0].Video.BytesReceived
	b.ReportMetric(float64(bytes)*8/1000/r1.Time.Sub(r0.Time).Seconds(), "rx-video-kbps")
	b.ReportMetric(r1.Peers[0].Video.FPS, "rx-fps")
	for _, c := range []*proc{srv, enc} {
		if c.exited() {
			b.Fatalf("a process exited during the window:\n%s", c.output())
		}
	}
	server := float64(s1-s0) / 100 / window.Seconds()
	encoder := float64(e1-e0) / 100 / window.Seconds()
	b.ReportMetric(server, "server-cores")
	b.ReportMetric(encoder, "encoder-cores")
	if encoder > 0 {
		b.ReportMetric(server/encoder, "server/encoder")
	}
	b.ReportMetric(float64(rssKB(srv.pid())-rss0)/1024, "server-rss-MiB-added")
	b.ReportMetric(float64(rssKB(srv.pid()))/1024, "server-rss-MiB")
}

func stopAll(ps []*proc) {
	for _, p := range ps {
		p.stop(5 * time.Second)
	}
}

// startChildServer runs serve on a free loopback port.
func startChildServer(ctx context.Context, tb testing.TB, args ...string) (*proc, string) {
	tb.Helper()
	return startServer(ctx, tb, append([]string{"--log-level", "warn"}, args...)...)
}
