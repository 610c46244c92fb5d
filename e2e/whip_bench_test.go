package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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
	for _, n := range []int{1, 4, 7} {
		b.Run(fmt.Sprintf("whip-%d", n), func(b *testing.B) {
			room := fmt.Sprintf("whip%d-%d", n, time.Now().UnixNano())
			var kids []*child
			stats := filepath.Join(b.TempDir(), "rx.jsonl")
			for i := range n {
				args := []string{"join", "--server", url, "--room", room, "--name", fmt.Sprintf("rx%d", i), "--video", "none", "--audio", "none"}
				if i == n-1 {
					args = append(args, "--stats-json", stats)
				}
				kids = append(kids, startChild(b, append(args, net...)...))
			}
			pub := startChild(b, append(append([]string{"join", "--whip", url + "/whip/" + room + "?name=pub"}, media...), net...)...)
			report(ctx, b, srv, pub, stats)
			stopAll(append(kids, pub))
		})
	}
	for _, n := range []int{1, 4, 7} {
		b.Run(fmt.Sprintf("mesh-%d", n), func(b *testing.B) {
			room := fmt.Sprintf("mesh%d-%d", n, time.Now().UnixNano())
			var kids []*child
			stats := filepath.Join(b.TempDir(), "rx.jsonl")
			for i := range n {
				args := []string{"join", "--server", url, "--room", room, "--name", fmt.Sprintf("rx%d", i), "--video", "none", "--audio", "none"}
				if i == n-1 {
					args = append(args, "--stats-json", stats)
				}
				kids = append(kids, startChild(b, append(args, net...)...))
			}
			pub := startChild(b, append(append([]string{"join", "--server", url, "--room", room, "--name", "pub"}, media...), net...)...)
			report(ctx, b, srv, pub, stats)
			stopAll(append(kids, pub))
		})
	}
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("whep-%d", n), func(b *testing.B) {
			room := fmt.Sprintf("whep%d-%d", n, time.Now().UnixNano())
			src := startChild(b, append(append([]string{"join", "--server", url, "--room", room, "--name", "src"}, media...), net...)...)
			time.Sleep(2 * time.Second) // the source joins before the players ask for it
			kids := []*child{src}
			stats := filepath.Join(b.TempDir(), "player.jsonl")
			for i := range n {
				args := []string{"join", "--whep", url + "/whep/" + room + "/src"}
				if i == n-1 {
					args = append(args, "--stats-json", stats)
				}
				kids = append(kids, startChild(b, append(args, net...)...))
			}
			report(ctx, b, srv, src, stats)
			stopAll(kids)
		})
	}
}

// report measures srv and the encoding peer over one window and reports,
// with the video bitrate and frame rate at the receiver whose --stats-json
// is stats.
func report(ctx context.Context, b *testing.B, srv, enc *child, stats string) {
	rss0 := rssKB(srv.pid())
	select {
	case <-time.After(8 * time.Second):
	case <-ctx.Done():
		b.Fatal(ctx.Err())
	}
	const window = 15 * time.Second
	s0, e0 := cpuTicks(srv.pid()), cpuTicks(enc.pid())
	r0, _ := lastSnapshot(stats)
	time.Sleep(window)
	s1, e1 := cpuTicks(srv.pid()), cpuTicks(enc.pid())
	r1, err := lastSnapshot(stats)
	if err != nil || r1.Check(1) != nil || len(r0.Peers) == 0 {
		b.Fatalf("the measured receiver did not get the stream: %v %v", err, r1.Check(1))
	}
	bytes := r1.Peers[0].Video.BytesReceived - r0.Peers[0].Video.BytesReceived
	b.ReportMetric(float64(bytes)*8/1000/r1.Time.Sub(r0.Time).Seconds(), "rx-video-kbps")
	b.ReportMetric(r1.Peers[0].Video.FPS, "rx-fps")
	for _, c := range []*child{srv, enc} {
		if c.exited() {
			b.Fatalf("%s exited during the window:\n%s", c.name, c.stderr.String())
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

// child is a videochat process of a benchmark.
type child struct {
	name   string
	cmd    *exec.Cmd
	stderr lockedBuffer
	done   chan struct{}
}

func startChild(tb testing.TB, args ...string) *child {
	tb.Helper()
	c := &child{name: strings.Join(args[:min(3, len(args))], " "), done: make(chan struct{})}
	c.cmd = exec.Command(binPath, args...)
	c.cmd.Stderr = &c.stderr
	if err := c.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	tb.Cleanup(func() { c.stop() })
	return c
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *child) stop() {
	if c.exited() {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

func stopAll(cs []*child) {
	for _, c := range cs {
		c.stop()
	}
}

// startChildServer runs serve on a free loopback port.
func startChildServer(ctx context.Context, tb testing.TB, args ...string) (*child, string) {
	tb.Helper()
	c := &child{name: "serve", done: make(chan struct{})}
	c.cmd = exec.Command(binPath, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "warn"}, args...)...)
	c.cmd.Stderr = &c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := serveURL.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		_ = c.cmd.Wait()
		close(c.done)
	}()
	tb.Cleanup(c.stop)
	select {
	case u := <-urls:
		return c, u
	case <-ctx.Done():
		tb.Fatalf("serve did not start: %s", c.stderr.String())
	}
	return nil, ""
}

// cpuTicks is utime+stime of a process, in clock ticks (100 per second).
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st
}

// rssKB is a process's resident set in KiB.
func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
