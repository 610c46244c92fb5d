package callbench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/videochat/videochat/internal/procstat"
)

// MeshConfig configures RunMesh.
type MeshConfig struct {
	Window // Measure defaults to 20 s
	// Peers are the numbers of remote peers to measure, ascending
	// (default 1, 3, 5). Receivers are added to one running call.
	Peers []int
	// Video is the sender's source: "test" or a Y4M path; "" generates the
	// clip of MakeClip.
	Video string
}

func (c MeshConfig) withDefaults() (MeshConfig, error) {
	if len(c.Peers) == 0 {
		c.Peers = []int{1, 3, 5}
	}
	if !slices.IsSorted(c.Peers) || c.Peers[0] < 0 {
		return c, errors.New("mesh: peers must be ascending and ≥ 0")
	}
	c.setDefaults(20 * time.Second)
	return c, nil
}

// MeshReport is the result of RunMesh.
type MeshReport struct {
	Machine Machine     `json:"machine"`
	Video   string      `json:"video"`
	Points  []MeshPoint `json:"points"`
	// Ratio3to1 and Ratio5to1 are the sender's CPU with 3 (5) remote
	// peers over its CPU with 1; 0 when not measured.
	Ratio3to1 float64      `json:"ratio_3_to_1"`
	Ratio5to1 float64      `json:"ratio_5_to_1"`
	Goals     []GoalResult `json:"goals"`
}

// MeshPoint is the sender measured with Peers remote peers.
type MeshPoint struct {
	Peers  int   `json:"peers"`
	Sender Usage `json:"sender"`
	// SentKbps is everything the sender sent (all peers, audio and video).
	SentKbps float64 `json:"sent_kbps"`
	// MinRecvFPS and MeanRecvFPS are the video frame rates the receivers saw.
	MinRecvFPS  float64    `json:"min_recv_fps"`
	MeanRecvFPS float64    `json:"mean_recv_fps"`
	Load        [2]float64 `json:"load_avg"`
	// Ramped says every link's estimate reached rampFraction of the
	// bitrate before the window; RampSeconds is how long that took after
	// the receivers decoded video (the deadline when it did not).
	// MinEstimateKbps is the lowest link estimate at the window's start
	// and at its end.
	Ramped          bool       `json:"ramped"`
	RampSeconds     float64    `json:"ramp_seconds"`
	MinEstimateKbps [2]float64 `json:"min_estimate_kbps"`
}

// RunMesh measures one native sender's CPU while receivers (`join --video
// none --audio none`) join its room.
func RunMesh(ctx context.Context, cfg MeshConfig) (*MeshReport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	fs := procstat.FS{Root: cfg.Proc}
	rep := &MeshReport{Machine: describeMachine(fs, ""), Video: cfg.Video}
	st, err := setUp(ctx, env{bin: cfg.Binary, clip: cfg.Video, bitrate: cfg.Bitrate})
	if err != nil {
		return nil, err
	}
	defer st.close()
	e := st.env
	cfg.Video, rep.Video = e.clip, st.clipDesc
	room := fmt.Sprintf("mesh-%d", os.Getpid())
	sender, err := e.startSide(ctx, sideSpec{Kind: "native", Video: "clip"}, room, "sender")
	if err != nil {
		return nil, err
	}
	defer sender.close()
	var receivers []*child
	defer func() {
		for _, r := range receivers {
			_ = r.stop(5 * time.Second)
		}
	}()
	for _, n := range cfg.Peers {
		for len(receivers) < n {
			r, err := startChild(ctx, cfg.Binary, fmt.Sprintf("r%d", len(receivers)+1), nil,
				joinArgs(e.server, room, fmt.Sprintf("r%d", len(receivers)+1), "none", "none")...)
			if err != nil {
				return nil, err
			}
			receivers = append(receivers, r)
		}
		pt, err := measureMesh(ctx, cfg, fs, st.srv.pid(), sender.(*nativeSide), receivers)
		if err != nil {
			return nil, fmt.Errorf("%d peers: %w", n, err)
		}
		cfg.Logger.Info("mesh point", "peers", n, "cpu_cores", pt.Sender.CPUCores, "ramped", pt.Ramped, "ramp_s", pt.RampSeconds)
		rep.Points = append(rep.Points, pt)
	}
	rep.Machine.LoadAfter = load(fs)
	rep.computeRatios()
	return rep, nil
}

// measureMesh waits until every receiver decodes video and the sender's
// estimate of every link is near the ceiling (each link starts at gcc's
// initial estimate and ramps up), warms up and measures the sender.
func measureMesh(ctx context.Context, cfg MeshConfig, fs procstat.FS, serverPID int, sender *nativeSide, receivers []*child) (MeshPoint, error) {
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, r := range receivers {
		if err := r.waitStats(wctx, "video from the sender", func(c counters) bool { return c.PeersReceiving >= 1 }); err != nil {
			return MeshPoint{}, err
		}
	}
	var pt MeshPoint
	ramp, err := awaitRamp(ctx, cfg.Logger, []endpoint{sender}, len(receivers), cfg.Bitrate, cfg.Ramp)
	if err != nil {
		return MeshPoint{}, err
	}
	pt.Ramped, pt.RampSeconds = ramp.Ramped, ramp.Seconds
	if err := sleepCtx(ctx, cfg.Warmup); err != nil {
		return MeshPoint{}, err
	}
	pt.MinEstimateKbps[0] = minEstimateKbps(sender)
	sides := []endpoint{sender}
	for _, r := range receivers {
		sides = append(sides, &nativeSide{name: r.name, c: r})
	}
	res, err := measure(ctx, fs, cfg.Measure, serverPID, "mesh", sides)
	if err != nil {
		return MeshPoint{}, err
	}
	pt.MinEstimateKbps[1] = minEstimateKbps(sender)
	pt.Peers, pt.Sender, pt.SentKbps, pt.Load = len(receivers), res.Sides[0].Usage, res.Sides[0].SentKbps, res.Load
	if len(receivers) > 0 {
		pt.MinRecvFPS = res.Sides[1].RecvFPS
		sum := 0.0
		for _, s := range res.Sides[1:] {
			pt.MinRecvFPS = min(pt.MinRecvFPS, s.RecvFPS)
			sum += s.RecvFPS
		}
		pt.MeanRecvFPS = sum / float64(len(receivers))
	}
	return pt, nil
}

func (r *MeshReport) computeRatios() {
	cpuAt := func(n int) float64 {
		for _, p := range r.Points {
			if p.Peers == n {
				return p.Sender.CPUCores
			}
		}
		return 0
	}
	one := cpuAt(1)
	if one <= 0 {
		return
	}
	if v := cpuAt(3); v > 0 {
		r.Ratio3to1 = round(v/one, 3)
		r.Goals = append(r.Goals, GoalResult{Goal: "sender CPU with 3 remote peers / with 1", Value: r.Ratio3to1,
			Target: fmt.Sprintf("≤ %.1f", maxMeshRatio3to1), Met: r.Ratio3to1 <= maxMeshRatio3to1,
			Detail: fmt.Sprintf("%.3f vs %.3f cores", v, one)})
	}
	if v := cpuAt(5); v > 0 {
		r.Ratio5to1 = round(v/one, 3)
	}
}
