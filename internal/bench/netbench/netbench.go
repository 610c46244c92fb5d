// Package netbench is `videochat-bench net`: the native sender against a
// Chromium sender, each sending the same clip to the same kind of
// receiver (a headless Chromium page), over the same impaired networks.
// Run measures the senders one after the other; RunTogether (together.go)
// at the same time, each in a network namespace of its own.
//
// Profiles:
//   - bottleneck: the namespace's loopback shaped with tc tbf at Link;
//     time to adapt = until the sender's target is ≤ Link; after the
//     window the limit is lifted and time to recover = until the target is
//     ≥ 90 % of Ceiling.
//   - loss: both peers relay-only through internal/impair's TURN relay,
//     which drops Loss of the packets and delays the rest by Delay in each
//     direction.
//
// Run must be called inside a network namespace of its own (the caller
// re-executes itself under `unshare -rn`): it shapes "lo" with tc.
// Counters come from the receiver's getStats() (framesDecoded,
// freezeCount, totalFreezesDuration, bytesReceived; for Repair packetsLost,
// nackCount, fecPacketsReceived, retransmittedPacketsReceived), the sender's target
// from --stats-json target_bitrate (native) or outbound-rtp.targetBitrate
// (Chromium), sender CPU from /proc (the native process; Chromium's whole
// process tree). It measures; it asserts nothing.
package netbench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/videochat/videochat/internal/bench/callbench"
	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/internal/browsertest/chromium"
	"github.com/videochat/videochat/internal/childproc"
	"github.com/videochat/videochat/internal/impair"
	"github.com/videochat/videochat/internal/procstat"
	"github.com/videochat/videochat/peer"
)

// Config configures Run.
type Config struct {
	Binary   string // videochat
	Chromium string
	Clip     string // Y4M both senders send; "" = generate (callbench.MakeClip)
	Ceiling  int    // senders' video ceiling, bits/s
	Link     int    // bottleneck rate, bits/s
	Loss     float64
	Delay    time.Duration // one way
	Warm     time.Duration // after the impairment starts, before the window
	Window   time.Duration
	Recover  time.Duration // longest wait for the ceiling after the lift
	Profiles []string      // bottleneck, loss
	Senders  []string      // native, chromium; a repeated one is measured again (a control)
	// SenderLog, when set, receives the native sender's log at debug
	// level (appended, one file for every profile).
	SenderLog string
	Logger    *slog.Logger

	// barrier, when set, is called once the sender is connected and
	// settled, just before the impairment starts (together.go's workers
	// wait there for each other).
	barrier func(context.Context) error
}

// Defaults of Config.
func (c Config) withDefaults() Config {
	set := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	setD := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	set(&c.Ceiling, 1_000_000)
	set(&c.Link, 500_000)
	if c.Loss <= 0 {
		c.Loss = 0.05
	}
	setD(&c.Delay, 30*time.Millisecond)
	setD(&c.Warm, 10*time.Second)
	setD(&c.Window, 20*time.Second)
	setD(&c.Recover, 40*time.Second)
	if len(c.Profiles) == 0 {
		c.Profiles = []string{"bottleneck", "loss"}
	}
	if len(c.Senders) == 0 {
		c.Senders = []string{"native", "chromium"}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// Row is one profile × sender.
type Row struct {
	Profile, Sender string
	FPS             float64 // received, over the window
	Freezes         int
	FreezeSeconds   float64
	KbpsMean        float64       // received
	KeyFrames, PLIs int           // decoded by the receiver / sent by it, over the window
	TargetKbpsMin   float64       // sender's lowest target in the window
	Adapt, Recover  time.Duration // -1: not reached; 0: not measured
	SenderCPU       float64       // cores, over the window
	TargetKbpsMean  float64       // sender's target
	Load            [2]float64    // 1-minute load average at the window's start and end
	Repair          Repair        // the receiver's loss recovery, over the window
}

// Repair is how the receiver got lost video back, from its inbound-rtp
// getStats over the window: FEC shows whether the sender protects with
// FEC (Chromium: ULPFEC in RED), RTX what retransmission delivered.
type Repair struct {
	Packets, Lost, NACKs int // received, lost, NACKs sent
	FEC, FECDiscarded    int // FEC packets received / discarded (not needed or unusable)
	RTXPackets, RTXBytes int // retransmissions received
}

// Report is Run's result.
type Report struct {
	Config struct {
		Ceiling, Link int
		Loss          float64
		Delay         time.Duration
		Warm, Window  time.Duration
	}
	Mode string // ModeTogether or ModeSequential
	Load string // /proc/loadavg at the end
	Rows []Row
}

// check names the first bad setting.
func (c Config) check() error {
	if c.Chromium == "" {
		return errNoChromium
	}
	for _, p := range c.Profiles {
		if p != "bottleneck" && p != "loss" {
			return fmt.Errorf("unknown profile %q: want bottleneck or loss", p)
		}
	}
	for _, s := range c.Senders {
		if s != "native" && s != "chromium" {
			return fmt.Errorf("unknown sender %q: want native or chromium", s)
		}
	}
	return nil
}

func newReport(cfg Config, mode string) *Report {
	rep := &Report{Mode: mode}
	rep.Config.Ceiling, rep.Config.Link, rep.Config.Loss, rep.Config.Delay = cfg.Ceiling, cfg.Link, cfg.Loss, cfg.Delay
	rep.Config.Warm, rep.Config.Window = cfg.Warm, cfg.Window
	return rep
}

// withClip runs f with a temporary directory and cfg.Clip set (generated
// there when empty).
func withClip(ctx context.Context, cfg *Config, f func(dir string) error) error {
	dir, err := os.MkdirTemp("", "netbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if cfg.Clip == "" {
		if cfg.Clip, err = callbench.MakeClip(ctx, dir); err != nil {
			return err
		}
	}
	return f(dir)
}

// Run measures every profile × sender, one after the other, in this
// process's network namespace.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	rep := newReport(cfg, ModeSequential)
	err := withClip(ctx, &cfg, func(dir string) error {
		for _, prof := range cfg.Profiles {
			for _, sender := range cfg.Senders {
				cfg.Logger.Info("measuring", "profile", prof, "sender", sender)
				row, err := runOne(ctx, cfg, dir, prof, sender)
				if err != nil {
					return fmt.Errorf("%s, %s sender: %w", prof, sender, err)
				}
				cfg.Logger.Info("measured", "row", fmt.Sprintf("%+v", row))
				rep.Rows = append(rep.Rows, row)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.Load = loadNow()
	return rep, nil
}

// sample is what the receiver page and the sender show at one moment.
type sample struct {
	at       time.Time
	frames   float64
	bytes    float64
	freezes  int
	freezeS  float64
	keys     int
	plis     int
	target   float64 // sender's target, bit/s
	cpuTicks uint64
	repair   Repair
}

// sender is the side being measured.
type sender struct {
	target func() float64
	cpu    func() uint64 // CPU clock ticks of the sender's process tree
	capTx  func() error  // caps a Chromium sender at the ceiling once connected
	close  func()
}

func runOne(ctx context.Context, cfg Config, dir, prof, who string) (Row, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	row := Row{Profile: prof, Sender: who}
	var serverArgs []string
	relay := prof == "loss"
	q := ""
	if relay {
		r, err := impair.Start(impair.Impairment{Loss: cfg.Loss, Delay: cfg.Delay})
		if err != nil {
			return row, err
		}
		defer r.Close()
		serverArgs = []string{"--ice-server", r.ICEServer}
		q = "&relay=1"
	}
	srv, url, err := startServer(ctx, cfg.Binary, serverArgs...)
	if err != nil {
		return row, err
	}
	defer srv.Close()
	room := prof + "-" + who
	tx, err := startSender(ctx, cfg, dir, url, room, q, who, relay)
	if err != nil {
		return row, err
	}
	defer tx.close()
	rx, err := chromium.Launch(ctx, chromium.LaunchConfig{Exe: cfg.Chromium, TempPrefix: "netbench-chromium-"})
	if err != nil {
		return row, err
	}
	defer rx.Close()
	if err := rx.Navigate(fmt.Sprintf("%s/room/%s?name=rx%s", url, room, q)); err != nil {
		return row, err
	}
	sel := strconv.Quote(`video[data-peer-name="tx"]`)
	cctx, ccancel := context.WithTimeout(ctx, time.Minute) // connecting
	defer ccancel()
	if err := rx.WaitJS(cctx, "tx's tile", fmt.Sprintf(`!!document.querySelector(%s)`, sel)); err != nil {
		return row, err
	}
	id, err := chromium.Eval[string](rx, fmt.Sprintf(`document.querySelector(%s).dataset.peerId`, sel))
	if err != nil {
		return row, err
	}
	if err := rx.WaitJS(cctx, "30 frames from tx", fmt.Sprintf(`(async () => (await %s).Frames >= 30)()`, inboundJS(id))); err != nil {
		return row, err
	}
	if err := tx.capTx(); err != nil {
		return row, err
	}
	if _, err := chromium.Eval[bool](rx, stopPageVideoJS); err != nil {
		return row, err
	}
	if err := sleep(ctx, 5*time.Second); err != nil { // both senders at their ceiling before the profile starts
		return row, err
	}
	if cfg.barrier != nil {
		if err := cfg.barrier(ctx); err != nil {
			return row, err
		}
	}

	read := func() (sample, error) {
		r, err := chromium.Eval[inbound](rx, inboundJS(id))
		if err != nil {
			return sample{}, err
		}
		return sample{at: time.Now(), frames: r.Frames, bytes: r.Bytes, freezes: r.FreezeCount, freezeS: r.FreezeSeconds,
			keys: r.KeyFrames, plis: r.PLIs, target: tx.target(), cpuTicks: tx.cpu(), repair: r.Repair}, nil
	}
	const tick = 500 * time.Millisecond
	start := time.Now()
	if prof == "bottleneck" {
		if err := limitLo(fmt.Sprintf("%dkbit", cfg.Link/1000)); err != nil {
			return row, err
		}
		defer func() { _ = limitLo("") }()
	}
	var s0, s1, last sample
	var sum float64
	var n int
	for {
		if err := sleep(ctx, tick); err != nil {
			return row, err
		}
		s, err := read()
		if err != nil {
			return row, err
		}
		el := s.at.Sub(start)
		if s.freezes > last.freezes && !last.at.IsZero() {
			cfg.Logger.Info("receiver froze", "profile", prof, "sender", who, "at", s.at.Format("15:04:05.000"), "elapsed", el.Round(100*time.Millisecond),
				"freezes", s.freezes-last.freezes, "freeze_s", fmt.Sprintf("%.3f", s.freezeS-last.freezeS), "fps", fmt.Sprintf("%.1f", (s.frames-last.frames)/s.at.Sub(last.at).Seconds()),
				"keyframes", s.keys-last.keys, "plis", s.plis-last.plis)
		}
		last = s
		if prof == "bottleneck" && row.Adapt == 0 && s.target > 0 && s.target <= float64(cfg.Link) {
			row.Adapt = el
		}
		if el >= cfg.Warm && s0.at.IsZero() {
			s0 = s
			row.Load[0] = (procstat.FS{}).LoadAvg()[0]
		}
		if !s0.at.IsZero() {
			sum += s.target
			n++
			if row.TargetKbpsMin == 0 || s.target/1000 < row.TargetKbpsMin {
				row.TargetKbpsMin = s.target / 1000
			}
		}
		if el >= cfg.Warm+cfg.Window {
			s1 = s
			break
		}
	}
	row.Load[1] = (procstat.FS{}).LoadAvg()[0]
	win := s1.at.Sub(s0.at).Seconds()
	row.FPS = (s1.frames - s0.frames) / win
	row.Freezes = s1.freezes - s0.freezes
	row.FreezeSeconds = s1.freezeS - s0.freezeS
	row.KeyFrames, row.PLIs = s1.keys-s0.keys, s1.plis-s0.plis
	a, b := s0.repair, s1.repair
	row.Repair = Repair{Packets: b.Packets - a.Packets, Lost: b.Lost - a.Lost, NACKs: b.NACKs - a.NACKs, FEC: b.FEC - a.FEC,
		FECDiscarded: b.FECDiscarded - a.FECDiscarded, RTXPackets: b.RTXPackets - a.RTXPackets, RTXBytes: b.RTXBytes - a.RTXBytes}
	row.KbpsMean = (s1.bytes - s0.bytes) * 8 / 1000 / win
	row.SenderCPU = float64(s1.cpuTicks-s0.cpuTicks) / procstat.ClockTicks / win
	row.TargetKbpsMean = sum / float64(max(n, 1)) / 1000
	if prof == "bottleneck" {
		if row.Adapt == 0 {
			row.Adapt = -1
		}
		if err := limitLo(""); err != nil {
			return row, err
		}
		lifted := time.Now()
		row.Recover = -1
		for time.Since(lifted) < cfg.Recover {
			if err := sleep(ctx, tick); err != nil {
				return row, err
			}
			if tx.target() >= 0.9*float64(cfg.Ceiling) {
				row.Recover = time.Since(lifted)
				break
			}
		}
	}
	return row, nil
}

// startSender starts the measured sender: a native `videochat join` or a
// Chromium page whose fake camera plays the clip.
func startSender(ctx context.Context, cfg Config, dir, url, room, q, who string, relay bool) (*sender, error) {
	if who == "native" {
		stats := filepath.Join(dir, room+".jsonl")
		args := []string{"join", "--server", url, "--room", room, "--name", "tx", "--ice-interface", "lo", "--mdns=false",
			"--video", cfg.Clip, "--audio", "test", "--video-bitrate", strconv.Itoa(cfg.Ceiling), "--stats-json", stats}
		if relay {
			args = append(args, "--relay-only")
		}
		ccfg := childproc.Config{Path: cfg.Binary, Args: args, StopSignal: syscall.SIGINT}
		closeLog := func() {}
		if cfg.SenderLog != "" {
			f, err := os.OpenFile(cfg.SenderLog, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return nil, err
			}
			ccfg.Args = append(ccfg.Args, "--log-level", "debug")
			var mu sync.Mutex
			ccfg.Stderr = func(line string) {
				mu.Lock()
				defer mu.Unlock()
				fmt.Fprintf(f, "%s [%s] %s\n", time.Now().Format("15:04:05.000"), room, line)
			}
			closeLog = func() { f.Close() }
		}
		c, err := childproc.Start(ctx, ccfg)
		if err != nil {
			closeLog()
			return nil, err
		}
		return &sender{
			target: func() float64 {
				s, err := peer.LastSnapshot(stats)
				if err != nil {
					return 0
				}
				for _, ps := range s.Peers {
					if ps.Name == "rx" {
						return float64(ps.TargetBitrate)
					}
				}
				return 0
			},
			cpu:   func() uint64 { return procstat.FS{}.TreeTicks(c.PID) },
			capTx: func() error { return nil },
			close: func() { c.Close(); closeLog() },
		}, nil
	}
	p, err := chromium.Launch(ctx, chromium.LaunchConfig{Exe: cfg.Chromium, Clip: cfg.Clip, TempPrefix: "netbench-chromium-"})
	if err != nil {
		return nil, err
	}
	if err := p.Navigate(fmt.Sprintf("%s/room/%s?name=tx%s", url, room, q)); err != nil {
		p.Close()
		return nil, err
	}
	return &sender{
		target: func() float64 { v, _ := chromium.Eval[float64](p, targetJS); return v },
		cpu:    func() uint64 { return procstat.FS{}.TreeTicks(p.PID) },
		capTx: func() error {
			_, err := chromium.Eval[int](p, browsertest.MaxBitrateJS(cfg.Ceiling))
			return err
		},
		close: p.Close,
	}, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// inbound is what the receiver page counts of one peer's video.
type inbound struct {
	Frames, Bytes float64
	FreezeCount   int
	FreezeSeconds float64
	KeyFrames     int
	PLIs          int
	Repair        Repair
}

func inboundJS(peerID string) string {
	return fmt.Sprintf(`(async () => {
		const r = {Frames: 0, Bytes: 0, FreezeCount: 0, FreezeSeconds: 0, KeyFrames: 0, PLIs: 0,
			Repair: {Packets: 0, Lost: 0, NACKs: 0, FEC: 0, FECDiscarded: 0, RTXPackets: 0, RTXBytes: 0}};
		const pc = window.videochat.peers().get(%s);
		if (pc) (await pc.getStats()).forEach((s) => {
			if (s.type === 'inbound-rtp' && s.kind === 'video') {
				r.Bytes += s.bytesReceived || 0; r.Frames += s.framesDecoded || 0;
				r.FreezeCount += s.freezeCount || 0; r.FreezeSeconds += s.totalFreezesDuration || 0;
				r.KeyFrames += s.keyFramesDecoded || 0; r.PLIs += (s.pliCount || 0) + (s.firCount || 0);
				const x = r.Repair;
				x.Packets += s.packetsReceived || 0; x.Lost += s.packetsLost || 0; x.NACKs += s.nackCount || 0;
				x.FEC += s.fecPacketsReceived || 0; x.FECDiscarded += s.fecPacketsDiscarded || 0;
				x.RTXPackets += s.retransmittedPacketsReceived || 0; x.RTXBytes += s.retransmittedBytesReceived || 0;
			}
		});
		return r;
	})()`, strconv.Quote(peerID))
}

// stopPageVideoJS stops the receiver's own camera towards every peer, so
// that only the sender's video crosses the impaired link.
const stopPageVideoJS = `(() => {
	for (const pc of window.videochat.peers().values())
		for (const s of pc.getSenders())
			if (s.track && s.track.kind === 'video') s.replaceTrack(null);
	return true;
})()`

// targetJS sums a Chromium sender's video targetBitrate.
const targetJS = `(async () => {
	let bps = 0;
	for (const pc of window.videochat.peers().values())
		(await pc.getStats()).forEach((r) => {
			if (r.type === 'outbound-rtp' && r.kind === 'video' && r.targetBitrate) bps += r.targetBitrate;
		});
	return bps;
})()`

// WriteMarkdown writes the rows as the table of BENCHMARKS.md, then the
// native/Chromium ratios per profile.
func (r *Report) WriteMarkdown(w io.Writer) {
	fmt.Fprintf(w, "Senders measured %s. Ceiling %d kbit/s; bottleneck %d kbit/s; loss %.0f %% and %v each way; window %v after %v; load average %s.\n\n",
		r.Mode, r.Config.Ceiling/1000, r.Config.Link/1000, r.Config.Loss*100, r.Config.Delay, r.Config.Window, r.Config.Warm, r.Load)
	fmt.Fprintln(w, "| profile | sender | received fps | freezes | freeze time | mean received | keyframes (PLIs) | time to adapt | time to recover | sender target (mean, min) | sender CPU |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	dur := func(d time.Duration) string {
		switch {
		case d == 0:
			return "—"
		case d < 0:
			return "not reached"
		}
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	for _, x := range r.Rows {
		fmt.Fprintf(w, "| %s | %s | %.1f | %d | %.2f s | %.0f kbit/s | %d (%d) | %s | %s | %.0f, %.0f kbit/s | %.2f cores |\n",
			x.Profile, x.Sender, x.FPS, x.Freezes, x.FreezeSeconds, x.KbpsMean, x.KeyFrames, x.PLIs, dur(x.Adapt), dur(x.Recover), x.TargetKbpsMean, x.TargetKbpsMin, x.SenderCPU)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Loss recovery seen by the receiver over the window (inbound-rtp):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| profile | sender | packets received | lost | NACKs sent | FEC received (discarded) | RTX received | RTX bytes |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, x := range r.Rows {
		p := x.Repair
		fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %d (%d) | %d | %d |\n", x.Profile, x.Sender, p.Packets, p.Lost, p.NACKs, p.FEC, p.FECDiscarded, p.RTXPackets, p.RTXBytes)
	}
	by := map[string]map[string]Row{}
	for _, x := range r.Rows {
		if by[x.Profile] == nil {
			by[x.Profile] = map[string]Row{}
		}
		by[x.Profile][x.Sender] = x
	}
	fmt.Fprintln(w)
	for _, x := range r.Rows {
		n, okN := by[x.Profile]["native"]
		c, okC := by[x.Profile]["chromium"]
		if x.Sender != "native" || !okN || !okC {
			continue
		}
		fmt.Fprintf(w, "- %s: received fps native/Chromium %.2f (goal ≥ 1); freezes %d vs %d, freeze time %.2f s vs %.2f s (goal native ≤ Chromium); sender CPU %.2f×; load in the window %.1f → %.1f (native), %.1f → %.1f (Chromium)\n",
			x.Profile, n.FPS/max(c.FPS, 0.01), n.Freezes, c.Freezes, n.FreezeSeconds, c.FreezeSeconds, n.SenderCPU/max(c.SenderCPU, 0.001), n.Load[0], n.Load[1], c.Load[0], c.Load[1])
	}
}

// WritePlots writes nothing: the report has no plots.
func (r *Report) WritePlots(string) ([]string, error) { return nil, nil }
