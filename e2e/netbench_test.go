package e2e

// netbench_test.go: native sender against Chromium sender, to the same
// Chromium receiver, over the same network profiles. It is a measurement,
// not a test (no assertions on the figures): it runs only with
// VIDEOCHAT_NETBENCH=1 and prints a Markdown table for BENCHMARKS.md.
//
//	VIDEOCHAT_NETBENCH=1 go test -count=1 -run TestNetBench -v -timeout 30m ./e2e/

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/bench/callbench"
	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/internal/procstat"
)

const (
	benchCeiling = 1_000_000
	benchLink    = 500_000
	benchWarm    = 10 * time.Second // after the impairment starts, before the window
	benchWindow  = 20 * time.Second
	benchRecover = 40 * time.Second // longest wait for the ceiling after the lift
	benchTick    = 500 * time.Millisecond
	clockTicks   = 100 // USER_HZ
)

// netRow is one profile × sender.
type netRow struct {
	Profile, Sender      string
	FPS                  float64
	Freezes              int
	FreezeSeconds        float64
	KbpsMean             float64
	Adapt, Recover       time.Duration // -1: not reached; 0: not measured
	SenderCPU            float64       // cores, over the window
	SenderTargetKbpsMean float64
}

func TestNetBench(t *testing.T) {
	if os.Getenv("VIDEOCHAT_NETBENCH") != "1" {
		t.Skip("a measurement: set VIDEOCHAT_NETBENCH=1 to run it")
	}
	if !inNetns(t) {
		return
	}
	clip, err := callbench.MakeClip(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var rows []netRow
	profiles := []string{"bottleneck", "loss"}
	if only := os.Getenv("VIDEOCHAT_NETBENCH_PROFILES"); only != "" {
		profiles = strings.Split(only, ",")
	}
	for _, prof := range profiles {
		for _, sender := range []string{"native", "chromium"} {
			t.Run(prof+"-"+sender, func(t *testing.T) {
				rows = append(rows, runNetProfile(t, prof, sender, clip))
			})
		}
	}
	var b strings.Builder
	b.WriteString("| profile | sender | received fps | freezes | freeze time | mean received | time to adapt | time to recover | sender target (mean) | sender CPU |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	dur := func(d time.Duration) string {
		switch {
		case d == 0:
			return "—"
		case d < 0:
			return "not reached"
		}
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %.1f | %d | %.2f s | %.0f kbit/s | %s | %s | %.0f kbit/s | %.2f cores |\n",
			r.Profile, r.Sender, r.FPS, r.Freezes, r.FreezeSeconds, r.KbpsMean, dur(r.Adapt), dur(r.Recover), r.SenderTargetKbpsMean, r.SenderCPU)
	}
	t.Log("\n" + b.String())
}

// benchSample is what the receiver page and the sender show at one moment.
type benchSample struct {
	at       time.Time
	rx       inboundVideo
	freezes  int
	freezeS  float64
	target   float64 // sender's target, bit/s
	cpuTicks int64
}

func runNetProfile(t *testing.T, prof, sender, clip string) netRow {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var serverArgs []string
	relay := prof == "loss"
	if relay {
		serverArgs = []string{"--ice-server", startImpairedTURN(t, impairment{Loss: 0.05, Delay: 30 * time.Millisecond})}
	}
	_, url := startServer(ctx, t, serverArgs...)
	room := prof + "-" + sender
	q := ""
	if relay {
		q = "&relay=1"
	}
	stats := filepath.Join(t.TempDir(), "stats.jsonl")
	var readTarget func() float64
	var cpu func() int64
	capTx := func() {} // caps a Chromium sender at the ceiling once connected
	switch sender {
	case "native":
		args := []string{"--video", clip, "--audio", "test", "--video-bitrate", strconv.Itoa(benchCeiling), "--stats-json", stats}
		if relay {
			args = append(args, "--relay-only")
		}
		p := start(t, joinArgs(url, room, "tx", args...)...)
		pid := p.pid()
		cpu = func() int64 { return treeTicks(pid) }
		readTarget = func() float64 {
			s, err := lastSnapshot(stats)
			if err != nil {
				return 0
			}
			for _, ps := range s.Peers {
				if ps.Name == "rx" {
					return float64(ps.TargetBitrate)
				}
			}
			return 0
		}
	default:
		tag := "vc-bench-" + room
		tx := browsertest.Launch(t, browsertest.Options{Name: "tx", Flags: map[string]any{
			"use-file-for-fake-video-capture": clip, tag: true}})
		tx.Navigate(fmt.Sprintf("%s/room/%s?name=tx%s", url, room, q))
		pid := findProc(tag)
		cpu = func() int64 { return treeTicks(pid) }
		readTarget = func() float64 {
			v, err := browsertest.EvalErr[float64](tx, `(async () => {
				let bps = 0;
				for (const pc of window.videochat.peers().values())
					(await pc.getStats()).forEach((r) => {
						if (r.type === 'outbound-rtp' && r.kind === 'video' && r.targetBitrate) bps += r.targetBitrate;
					});
				return bps;
			})()`)
			if err != nil {
				return 0
			}
			return v
		}
		capTx = func() { browsertest.Eval[int](tx, browsertest.MaxBitrateJS(benchCeiling)) }
	}
	rx := browsertest.Launch(t, browsertest.Options{Name: "rx"})
	rx.Navigate(fmt.Sprintf("%s/room/%s?name=rx%s", url, room, q))
	sel := `video[data-peer-name="tx"]`
	rx.WaitFor("tx's tile", fmt.Sprintf(`!!document.querySelector(%s)`, strconv.Quote(sel)), time.Minute)
	id := browsertest.Eval[string](rx, fmt.Sprintf(`document.querySelector(%s).dataset.peerId`, strconv.Quote(sel)))
	rx.WaitFramesDecoded(id, 30)
	capTx()
	stopPageVideo(rx)
	time.Sleep(5 * time.Second) // both senders at their ceiling before the profile starts

	sample := func() benchSample {
		r := readFreezesRaw(rx)
		return benchSample{at: time.Now(), rx: readInbound(rx, id), freezes: r.FreezeCount, freezeS: r.FreezeSeconds,
			target: readTarget(), cpuTicks: cpu()}
	}
	row := netRow{Profile: prof, Sender: sender}
	start := time.Now()
	if prof == "bottleneck" {
		limitLo(t, "500kbit")
	}
	var s0, s1 benchSample
	var targets []float64
	for {
		time.Sleep(benchTick)
		s := sample()
		el := s.at.Sub(start)
		if prof == "bottleneck" && row.Adapt == 0 && s.target > 0 && s.target <= benchLink {
			row.Adapt = el
		}
		if el >= benchWarm && s0.at.IsZero() {
			s0 = s
		}
		if !s0.at.IsZero() {
			targets = append(targets, s.target)
		}
		if el >= benchWarm+benchWindow {
			s1 = s
			break
		}
	}
	win := s1.at.Sub(s0.at).Seconds()
	row.FPS = (s1.rx.Frames - s0.rx.Frames) / win
	row.Freezes = s1.freezes - s0.freezes
	row.FreezeSeconds = s1.freezeS - s0.freezeS
	row.KbpsMean = (s1.rx.Bytes - s0.rx.Bytes) * 8 / 1000 / win
	row.SenderCPU = float64(s1.cpuTicks-s0.cpuTicks) / clockTicks / win
	sum := 0.0
	for _, v := range targets {
		sum += v
	}
	row.SenderTargetKbpsMean = sum / float64(max(len(targets), 1)) / 1000
	if prof == "bottleneck" {
		if row.Adapt == 0 {
			row.Adapt = -1
		}
		limitLo(t, "")
		lifted := time.Now()
		row.Recover = -1
		for time.Since(lifted) < benchRecover {
			time.Sleep(benchTick)
			if readTarget() >= 0.9*benchCeiling {
				row.Recover = time.Since(lifted)
				break
			}
		}
	}
	t.Logf("%+v", row)
	return row
}

func readFreezesRaw(pg *browsertest.Page) freezeReport {
	return browsertest.Eval[freezeReport](pg, `(async () => {
		const r = {MaxGapMs: 0, Frames: 0, FreezeCount: 0, FreezeSeconds: 0, NACKs: 0};
		for (const pc of window.videochat.peers().values())
			(await pc.getStats()).forEach((s) => {
				if (s.type === 'inbound-rtp' && s.kind === 'video') {
					r.FreezeCount += s.freezeCount || 0;
					r.FreezeSeconds += s.totalFreezesDuration || 0;
				}
			});
		return r;
	})()`)
}

// findProc returns the pid of the process whose command line contains
// tag (0: none).
func findProc(tag string) int {
	var fs procstat.FS
	all, _ := fs.All()
	for _, p := range all {
		cmd, err := fs.Cmdline(p.PID)
		if err == nil && strings.Contains(cmd, tag) && !strings.Contains(cmd, "test.run") {
			return p.PID
		}
	}
	return 0
}

// treeTicks returns the CPU time (user+system, clock ticks) of pid and all
// its descendants alive now.
func treeTicks(root int) int64 {
	if root == 0 {
		return 0
	}
	all, _ := procstat.FS{}.All()
	var sum uint64
	for _, p := range procstat.Tree(all, root) {
		sum += p.Ticks()
	}
	return int64(sum)
}
