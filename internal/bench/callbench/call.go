package callbench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/internal/procstat"
)

// Window is what the call and mesh benchmarks configure alike: the binary
// they run, and how each measurement window is reached and taken.
type Window struct {
	// Binary is the videochat executable whose serve and join commands run
	// the server and the native peers.
	Binary string
	// Measure is the length of each CPU/RSS/bitrate window (default: the
	// benchmark's); Warmup the time after the native senders' links have
	// ramped up before a window opens (default 5 s; negative: none).
	Measure, Warmup time.Duration
	// Ramp is how long a native sender's congestion control may take to
	// bring its link estimates near Bitrate (default 60 s; ramp.go). A
	// window whose links did not get there is still measured, marked
	// Ramped false: its receivers got less than the full stream.
	Ramp time.Duration
	// Bitrate is the video target of every sender, bits/s (default 1 Mbps);
	// Chromium senders get it as maxBitrate.
	Bitrate int
	// Logger receives progress messages; nil discards them.
	Logger *slog.Logger
	// Proc is the /proc mount (default "/proc").
	Proc string
}

// setDefaults fills in what is unset; measure is the benchmark's default
// window.
func (w *Window) setDefaults(measure time.Duration) {
	if w.Measure <= 0 {
		w.Measure = measure
	}
	if w.Warmup < 0 {
		w.Warmup = 0
	} else if w.Warmup == 0 {
		w.Warmup = 5 * time.Second
	}
	if w.Ramp <= 0 {
		w.Ramp = defaultRamp
	}
	if w.Bitrate <= 0 {
		w.Bitrate = 1_000_000
	}
	if w.Logger == nil {
		w.Logger = slog.New(slog.DiscardHandler)
	}
	if w.Proc == "" {
		w.Proc = "/proc"
	}
}

// CallConfig configures RunCall.
type CallConfig struct {
	Window // Measure defaults to 30 s
	// Chromium is the browser to drive; "" skips the Chromium measurements.
	Chromium string
	// Clip is the Y4M file both kinds of peer send; "" generates a 10 s
	// 640×480@30 testsrc2 clip with ffmpeg in a temporary directory.
	Clip string
	// Runs is the number of set-up measurements per kind (default 10).
	Runs int
	// Audio is the native peers' --audio source: "test" (default) or
	// "mic" (the default microphone, e.g. a virtual PulseAudio source).
	Audio string
}

func (c CallConfig) withDefaults() CallConfig {
	if c.Runs <= 0 {
		c.Runs = 10
	}
	c.setDefaults(30 * time.Second)
	return c
}

// CallReport is the result of RunCall.
type CallReport struct {
	Machine Machine       `json:"machine"`
	Clip    string        `json:"clip"`
	Bitrate int           `json:"target_bitrate_bps"`
	Setup   SetupResult   `json:"setup"`
	Calls   []CallResult  `json:"calls"`
	Goals   []GoalResult  `json:"goals"`
	Skipped []string      `json:"skipped,omitempty"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// SetupResult holds the call set-up times.
type SetupResult struct {
	// Native: the second `join` process's start → its first remote video
	// RTP packet (pion's OnTrack, logged as "remote track"; the first
	// complete frame follows in the same burst of packets).
	Native Summary `json:"native"`
	// ChromiumNav: the second page's navigation start → first remote frame
	// decoded (getStats framesDecoded > 0, polled every 20 ms).
	ChromiumNav Summary `json:"chromium_navigation"`
	// ChromiumLaunch: the second Chromium's launch → first decoded frame,
	// the counterpart of Native's process start.
	ChromiumLaunch Summary `json:"chromium_launch"`
	// ChromiumRendered: navigation start → first rendered frame
	// (requestVideoFrameCallback).
	ChromiumRendered Summary `json:"chromium_rendered"`
	// Ratios of the p50s, Chromium over native.
	RatioNav    float64 `json:"ratio_navigation"`
	RatioLaunch float64 `json:"ratio_launch"`
}

// CallResult is one call measured over a window.
type CallResult struct {
	Name    string       `json:"name"`
	Seconds float64      `json:"seconds"`
	Sides   []SideResult `json:"sides"`
	Server  Usage        `json:"server"`
	Load    [2]float64   `json:"load_avg"`
	// Ramped says the native senders' link estimates reached the ceiling
	// before the warm-up (ramp.go), RampSeconds after how long.
	Ramped      bool    `json:"ramped"`
	RampSeconds float64 `json:"ramp_seconds"`
}

// SideResult is one side of a measured call.
type SideResult struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	Usage
	// SentKbps counts every RTP byte this side sent (audio and video,
	// headers included).
	SentKbps float64 `json:"sent_kbps"`
	// RecvVideoKbps is the video payload this side received: the other
	// side's encoder output.
	RecvVideoKbps float64 `json:"recv_video_kbps"`
	RecvFPS       float64 `json:"recv_fps"`
	RecvCodec     string  `json:"recv_codec,omitempty"`
	SendCodec     string  `json:"send_codec,omitempty"`
	SendFPS       float64 `json:"send_fps,omitempty"`
	Encoder       string  `json:"encoder,omitempty"`
}

// callSpec names a call and its two sides; A joins first and offers.
type callSpec struct {
	Name string
	A, B sideSpec
}

func callSpecs(withChromium bool) []callSpec {
	nat := func(v string) sideSpec { return sideSpec{Kind: "native", Video: v} }
	cr := func(codec string) sideSpec { return sideSpec{Kind: "chromium", Video: "clip", Codec: codec} }
	specs := []callSpec{
		{Name: "native↔native, Y4M clip, VP8", A: nat("clip"), B: nat("clip")},
		{Name: "native↔native, --video test, VP8", A: nat("test"), B: nat("test")},
	}
	if withChromium {
		specs = append(specs,
			callSpec{Name: "Chromium↔Chromium, Y4M clip, VP8", A: cr(""), B: cr("")},
			callSpec{Name: "native↔Chromium, Y4M clip, VP8", A: nat("clip"), B: cr("VP8")},
			callSpec{Name: "native↔Chromium, Y4M clip, H.264", A: nat("clip"), B: cr("H264")},
		)
	}
	return specs
}

// RunCall runs the call benchmark: set-up times, then each call of
// callSpecs measured for cfg.Measure.
func RunCall(ctx context.Context, cfg CallConfig) (*CallReport, error) {
	cfg = cfg.withDefaults()
	began := time.Now()
	fs := procstat.FS{Root: cfg.Proc}
	rep := &CallReport{Bitrate: cfg.Bitrate, Machine: describeMachine(fs, cfg.Chromium)}
	st, err := setUp(ctx, env{bin: cfg.Binary, chromium: cfg.Chromium, clip: cfg.Clip, bitrate: cfg.Bitrate, audio: cfg.Audio})
	if err != nil {
		return nil, err
	}
	defer st.close()
	e := st.env
	cfg.Clip, rep.Clip = e.clip, st.clipDesc
	if cfg.Chromium == "" {
		rep.Skipped = append(rep.Skipped, "Chromium not found: Chromium set-up and calls skipped")
	}
	if err := runSetups(ctx, cfg, e, &rep.Setup); err != nil {
		return nil, err
	}
	for i, spec := range callSpecs(cfg.Chromium != "") {
		cfg.Logger.Info("measuring call", "call", spec.Name, "seconds", cfg.Measure.Seconds())
		res, err := measureCall(ctx, cfg, e, fs, st.srv.pid(), spec, fmt.Sprintf("call-%d-%d", os.Getpid(), i))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", spec.Name, err)
		}
		rep.Calls = append(rep.Calls, res)
	}
	rep.Goals = callGoals(rep)
	rep.Machine.LoadAfter = load(fs)
	rep.Elapsed = time.Since(began)
	return rep, nil
}

// measureCall starts a call, waits until both sides decode video and the
// native senders' links have ramped up, lets it warm up and measures it.
func measureCall(ctx context.Context, cfg CallConfig, e env, fs procstat.FS, serverPID int, spec callSpec, room string) (CallResult, error) {
	a, err := e.startSide(ctx, spec.A, room, "a")
	if err != nil {
		return CallResult{}, err
	}
	defer a.close()
	b, err := e.startSide(ctx, spec.B, room, "b")
	if err != nil {
		return CallResult{}, err
	}
	defer b.close()
	sides := []endpoint{a, b}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, s := range sides {
		if err := s.receiving(wctx, 1); err != nil {
			return CallResult{}, err
		}
		if cs, ok := s.(*chromiumSide); ok {
			if _, err := eval[int](cs.b, browsertest.MaxBitrateJS(cfg.Bitrate)); err != nil {
				return CallResult{}, fmt.Errorf("%s: set maxBitrate: %w", cs.name, err)
			}
		}
	}
	ramp, err := awaitRamp(ctx, cfg.Logger, sides, 1, cfg.Bitrate, cfg.Ramp)
	if err != nil {
		return CallResult{}, err
	}
	if err := sleepCtx(ctx, cfg.Warmup); err != nil {
		return CallResult{}, err
	}
	res, err := measure(ctx, fs, cfg.Measure, serverPID, spec.Name, sides)
	res.Ramped, res.RampSeconds = ramp.Ramped, ramp.Seconds
	return res, err
}

// measure samples the sides' processes each second for window and reads
// their media counters at both ends.
func measure(ctx context.Context, fs procstat.FS, window time.Duration, serverPID int, name string, sides []endpoint) (CallResult, error) {
	roots := []int{serverPID}
	for _, s := range sides {
		roots = append(roots, s.pid())
	}
	m := procstat.NewMeter(fs, roots...)
	before, err := readCounters(ctx, sides)
	if err != nil {
		return CallResult{}, err
	}
	if err := m.Sample(); err != nil {
		return CallResult{}, err
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	deadline := time.Now().Add(window)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return CallResult{}, ctx.Err()
		case <-tick.C:
		}
		if err := m.Sample(); err != nil {
			return CallResult{}, err
		}
	}
	after, err := readCounters(ctx, sides)
	if err != nil {
		return CallResult{}, err
	}
	res := CallResult{Name: name, Seconds: m.Window().Seconds(), Server: m.Usage(0), Load: load(fs)}
	for i, s := range sides {
		res.Sides = append(res.Sides, sideResult(s, m.Usage(i+1), before[i], after[i]))
	}
	return res, nil
}

func readCounters(ctx context.Context, sides []endpoint) ([]counters, error) {
	out := make([]counters, len(sides))
	for i, s := range sides {
		c, err := s.counters(ctx)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

func sideResult(s endpoint, u Usage, c0, c1 counters) SideResult {
	r := SideResult{Name: s.label(), Kind: s.kind(), Usage: u,
		RecvCodec: c1.RecvCodec, SendCodec: c1.SendCodec, SendFPS: c1.SendFPS, Encoder: c1.Encoder}
	if dt := c1.At.Sub(c0.At).Seconds(); dt > 0 {
		r.SentKbps = float64(c1.BytesSent-c0.BytesSent) * 8 / 1000 / dt
		r.RecvVideoKbps = float64(c1.VideoBytesReceived-c0.VideoBytesReceived) * 8 / 1000 / dt
		r.RecvFPS = float64(c1.FramesReceived-c0.FramesReceived) / dt
	}
	return r
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// errNoFrame reports a set-up run that produced no first-frame time.
var errNoFrame = errors.New("no first remote frame")
