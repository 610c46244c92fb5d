package capture

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/capture/opus"
)

func TestGroupSpreadsAtMostThreeLayers(t *testing.T) {
	for _, tc := range []struct {
		est  []int
		want []int
	}{
		{[]int{1_000_000}, []int{0}},
		{[]int{1_000_000, 900_000, 800_000}, []int{0, 0, 0}},                       // within 70 % of the best
		{[]int{1_000_000, 300_000, 950_000}, []int{0, 1, 0}},                       // one weak receiver
		{[]int{100_000, 1_000_000, 400_000, 200_000}, []int{2, 0, 1, 2}},           // three groups
		{[]int{1_000_000, 500_000, 200_000, 60_000, 30_000}, []int{0, 1, 2, 2, 2}}, // capped at three
	} {
		l := newLayerSet(keyVP8)
		var bs []binding
		for i, e := range tc.est {
			id := string(rune('a' + i))
			bs = append(bs, binding{id: id})
			_ = e
		}
		l.sync(bs)
		ids := l.ids()
		for i, id := range ids {
			l.binds[id].estimate = tc.est[i]
		}
		if got := l.group(ids); !slices.Equal(got, tc.want) {
			t.Errorf("estimates %v: layers %v, want %v", tc.est, got, tc.want)
		}
	}
}

func TestRungLowersResolutionThenFrameRate(t *testing.T) {
	full, half, halfSlow := rung{1, 1}, rung{2, 1}, rung{2, 2}
	vga := newLadder(640, 480, 1_000_000)
	for _, tc := range []struct {
		target    int
		cur, want rung
	}{
		{1_000_000, full, full},
		{290_000, full, half},
		{100_000, half, halfSlow},
		{320_000, half, half}, // not enough headroom to climb
		{420_000, half, half}, // nor here: no room for a full-size keyframe
		{500_000, half, full}, // climbs back
		{170_000, halfSlow, halfSlow},
		{200_000, halfSlow, half},
		{420_000, halfSlow, half},
		{500_000, halfSlow, full},
	} {
		if got := vga.rungFor(tc.target, tc.cur); got != tc.want {
			t.Errorf("target %d from %v: %v, want %v", tc.target, tc.cur, got, tc.want)
		}
	}
	if got := newLadder(300, 200, 1_000_000).rungFor(50_000, full); got != full {
		t.Errorf("small source scaled: %v", got)
	}
}

// TestRungClimbThresholdScalesWithTheSource: the target a halved slot
// needs to climb back grows with the source's pixel count, is never under
// the old hysteresis (rungUp × lowRate) and never over the ceiling (a
// slot whose estimate reached the ceiling has nothing left to wait for).
func TestRungClimbThresholdScalesWithTheSource(t *testing.T) {
	for _, tc := range []struct {
		w, h, ceiling, want int
	}{
		{640, 480, 1_000_000, 500_000},
		{1280, 720, 2_500_000, 1_500_000},
		{1280, 720, 1_000_000, 1_000_000}, // capped at the ceiling
		{640, 480, 400_000, 400_000},
		{320, 240, 1_000_000, 360_000}, // rungUp × lowRate
		{640, 480, 0, 500_000},
	} {
		if got := newLadder(tc.w, tc.h, tc.ceiling).fullUp; got != tc.want {
			t.Errorf("%dx%d, ceiling %d: climbs at %d, want %d", tc.w, tc.h, tc.ceiling, got, tc.want)
		}
	}
	// A slot that was halved climbs back at its ceiling.
	if got := newLadder(640, 480, 400_000).rungFor(400_000, rung{2, 1}); got != (rung{1, 1}) {
		t.Errorf("at a 400 kbit/s ceiling: %v, want full size", got)
	}
}

// ladderRun drives one slot's ladder as evaluate does, every layerEvery,
// for a 640×480 source with a 1 Mbit/s ceiling.
type ladderRun struct {
	t   *testing.T
	s   *slot
	ld  ladder
	t0  time.Time
	now time.Duration
	// climbs and falls count the moves between half and full size.
	climbs, falls int
}

func newLadderRun(t *testing.T) *ladderRun {
	return &ladderRun{t: t, s: &slot{rung: rung{1, 1}}, ld: newLadder(640, 480, 1_000_000), t0: time.Unix(1000, 0)}
}

// hold evaluates target, every layerEvery, for d.
func (r *ladderRun) hold(d time.Duration, target int) {
	r.until(r.now+d-layerEvery, target)
}

// until evaluates target, every layerEvery, up to and including at.
func (r *ladderRun) until(at time.Duration, target int) {
	for ; r.now <= at; r.now += layerEvery {
		from := r.s.rung
		r.s.setRung(r.ld.rungFor(target, r.s.rung), r.t0.Add(r.now))
		switch {
		case from.div == 2 && r.s.rung.div == 1:
			r.climbs++
		case from.div == 1 && r.s.rung.div == 2:
			r.falls++
		}
	}
}

func (r *ladderRun) want(w rung) {
	r.t.Helper()
	if r.s.rung != w {
		r.t.Fatalf("at %v: %v, want %v (failed climbs %d)", r.now-layerEvery, r.s.rung, w, r.s.failedClimbs)
	}
}

// TestRungClimbNeedsATargetThatHolds: behind a 500 kbit/s bottleneck the
// slot's target saws between ≈ 260 and 440 kbit/s, peaking for a second or
// two (2.5 s) over 500 kbit/s before each cut (measured: BENCHMARKS.md, "The ladder's
// climb"). The slot stays at half size: no climb into the nearly full link,
// so no fall back and no keyframe either way. When the limit is lifted and
// the target stays up, it climbs within climbHold of the upper threshold.
func TestRungClimbNeedsATargetThatHolds(t *testing.T) {
	full, half := rung{1, 1}, rung{2, 1}
	r := newLadderRun(t)
	r.hold(time.Second, 1_000_000)
	r.hold(2*time.Second, 250_000) // the limit comes on
	r.want(half)
	for range 6 { // 6 saw teeth of 7.5 s
		r.hold(time.Second, 260_000)
		r.hold(2*time.Second, 360_000)
		r.hold(time.Second, 420_000)
		r.hold(time.Second, 440_000)
		// The peak before the cut: up to 2.5 s when the estimate races
		// past the queue's capacity (BENCHMARKS.md, b5n3).
		r.hold(2500*time.Millisecond, 530_000)
	}
	r.want(half)
	if r.climbs != 0 {
		t.Errorf("%d climbs behind the bottleneck (%d fell back)", r.climbs, r.falls)
	}
	// Lifted: the target passes the climb threshold and stays; the slot
	// climbs once it has held for climbHold.
	r.hold(time.Second, 450_000)
	r.hold(climbHold, 520_000) // evaluated at 0 to climbHold - layerEvery: not yet
	r.want(half)
	r.hold(layerEvery, 1_000_000)
	r.want(full)
	if r.climbs != 1 || r.falls != 1 {
		t.Errorf("%d climbs and %d falls in all, want 1 and 1 (the limit's)", r.climbs, r.falls)
	}
}

// TestRungClimbBacksOff: a climb to full size that falls back within
// rungProbation doubles the wait before the next climb; a climb that
// holds resets it. (Before: every 6 s, a keyframe each way.)
func TestRungClimbBacksOff(t *testing.T) {
	full, half := rung{1, 1}, rung{2, 1}
	r := newLadderRun(t)
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	step := func(at float64, target int, want rung) {
		t.Helper()
		r.until(sec(at), target)
		r.want(want)
	}
	step(0, 250_000, half) // the bottleneck
	step(5.5, 600_000, half)
	step(6, 600_000, full) // up dwell 6 s
	step(7, 250_000, half) // falls back within the probation: a failed climb
	step(18.5, 600_000, half)
	step(19, 600_000, full) // now 12 s
	step(20, 250_000, half) // failed again: 24 s
	step(43.5, 600_000, half)
	step(44, 600_000, full)
	step(70, 600_000, full)
	step(70.5, 250_000, half) // held 26 s: the back-off ends
	step(76, 600_000, half)
	step(76.5, 600_000, full)
	if r.s.failedClimbs != 0 {
		t.Errorf("failed climbs %d after one that held", r.s.failedClimbs)
	}
}

// estimates is a Config.Estimate the test sets per SSRC.
type estimates struct {
	mu sync.Mutex
	m  map[uint32]int
}

func (e *estimates) set(ssrc uint32, bps int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[ssrc] = bps
}

func (e *estimates) get(ssrc uint32) (int, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.m[ssrc]
	return v, ok
}

// TestLayersFollowEstimates: three receivers of one track, one of them
// weak. The weak one gets its own lower layer at half resolution, the
// others keep the ceiling; a keyframe request from the weak one costs a
// keyframe on its layer only; when its estimate recovers the layers merge.
func TestLayersFollowEstimates(t *testing.T) {
	est := &estimates{m: map[uint32]int{}}
	m := openMedia(t, Config{Video: "test", Audio: "none", VideoBitrate: 800_000, Estimate: est.get})
	api := newAPI(t, RegisterCodecs)
	calls := []*call{dial(t, api, api, m.Tracks()), dial(t, api, api, m.Tracks()), dial(t, api, api, m.Tracks())}
	ssrc := func(c *call) uint32 { return uint32(c.senders[0].GetParameters().Encodings[0].SSRC) }
	weak := calls[2]
	est.set(ssrc(weak), 200_000)
	tr := m.video
	layerOf := func(c *call) (int, int) {
		target, layer, ok := tr.SendStats(ssrc(c))
		if !ok {
			return -1, 0
		}
		return layer, target
	}
	eventually(t, "the weak receiver on layer 1, the others on layer 0", func() bool {
		l0, _ := layerOf(calls[0])
		l1, _ := layerOf(calls[1])
		l2, _ := layerOf(weak)
		return l0 == 0 && l1 == 0 && l2 == 1 && weak.rx.keyframes.Load() > 0
	})
	if _, target := layerOf(calls[0]); target != 800_000 {
		t.Errorf("strong receivers' target %d, want the ceiling 800000", target)
	}
	if _, target := layerOf(weak); target != 200_000 {
		t.Errorf("weak receiver's target %d, want its estimate 200000", target)
	}
	if n := tr.counters.encoders.Load(); n != 2 {
		t.Errorf("%d encoders for two layers", n)
	}
	tr.mu.Lock()
	weakInfo := tr.sent[ssrc(weak)]
	tr.mu.Unlock()
	if weakInfo.Width != DefaultWidth/2 {
		t.Errorf("weak layer %dx%d at 200 kbit/s, want half of %dx%d", weakInfo.Width, weakInfo.Height, DefaultWidth, DefaultHeight)
	}
	frames := weak.rx.frames.Load()
	eventually(t, "frames on the weak layer", func() bool { return weak.rx.frames.Load() >= frames+20 })

	// Keyframe requests from the weak receiver: its layer only.
	strongKeys, weakKeys := calls[0].rx.keyframes.Load(), weak.rx.keyframes.Load()
	forced := tr.counters.forced.Load()
	for range 5 {
		tr.RequestKeyFrameFor(ssrc(weak))
	}
	eventually(t, "a keyframe on the weak layer", func() bool { return weak.rx.keyframes.Load() > weakKeys })
	seen := calls[0].rx.frames.Load()
	eventually(t, "15 more frames on the strong layer", func() bool { return calls[0].rx.frames.Load() >= seen+15 })
	// A keyframe on the strong layer now is the request's only if more
	// than the weak layer's one was forced: a slow (loaded) run may reach
	// the strong encoder's natural keyframe in this window.
	if got, n := calls[0].rx.keyframes.Load(), tr.counters.forced.Load()-forced; got != strongKeys && n > 1 {
		t.Errorf("strong receiver got %d keyframes for the weak one's request (%d keyframes forced)", got-strongKeys, n)
	}

	// The weak link recovers: one layer again.
	est.set(ssrc(weak), 900_000)
	eventually(t, "layers merged", func() bool {
		l2, _ := layerOf(weak)
		return l2 == 0
	})
	before := weak.rx.frames.Load()
	eventually(t, "frames after the merge", func() bool { return weak.rx.frames.Load() >= before+20 })
	if n := weak.rx.tsBack.Load(); n != 0 {
		t.Errorf("%d frames with non-increasing timestamps across layer switches", n)
	}
}

// TestOpusFECFollowsLoss: the live audio pipeline switches in-band FEC on
// when receivers report loss and off when it ends; DTX is always allowed.
func TestOpusFECFollowsLoss(t *testing.T) {
	enc, err := newOpus(1, DefaultAudioBitrate)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	if fec, loss, dtx := enc.settings(); fec || loss != 0 || !dtx {
		t.Errorf("fresh encoder: fec %v, loss %d%%, dtx %v; want off, 0, on", fec, loss, dtx)
	}
	for _, tc := range []struct {
		loss    float64
		fec     bool
		percent int
	}{{0.05, true, 5}, {0.004, false, 0}, {0.6, true, opus.MaxLossPercent}} {
		if err := enc.setLoss(tc.loss); err != nil {
			t.Fatal(err)
		}
		if fec, loss, _ := enc.settings(); fec != tc.fec || loss != tc.percent {
			t.Errorf("loss %.3f: fec %v at %d%%, want %v at %d%%", tc.loss, fec, loss, tc.fec, tc.percent)
		}
	}
}

// TestTakeKeyFrameForPlainPipelines: pipelines without layers see any
// request (for all or for one binding) once, at most once per interval.
func TestTakeKeyFrameForPlainPipelines(t *testing.T) {
	tr := newTrack(webrtc.RTPCodecTypeVideo, "v", "s", []codecKey{keyVP8}, nil, testLogger(t))
	now := time.Unix(1000, 0)
	if tr.takeKeyFrame(now) {
		t.Fatal("keyframe without a request")
	}
	tr.RequestKeyFrameFor(42)
	if !tr.takeKeyFrame(now) || tr.takeKeyFrame(now) {
		t.Fatal("a request must give exactly one keyframe")
	}
	tr.RequestKeyFrame()
	if tr.takeKeyFrame(now.Add(keyFrameInterval / 2)) {
		t.Fatal("keyframe within the interval")
	}
	if !tr.takeKeyFrame(now.Add(keyFrameInterval)) {
		t.Fatal("a pending request was lost")
	}
}

// TestKeyRequestsInsideTheIntervalAreDeferred: a binding's second request
// within bindingKeyInterval is not dropped (its receiver would stay frozen
// until it asked again) but served once the interval has passed.
func TestKeyRequestsInsideTheIntervalAreDeferred(t *testing.T) {
	l := newLayerSet(keyVP8)
	l.sync([]binding{{id: "a", ssrc: 7}})
	st := l.binds["a"]
	st.cur, st.want = 0, 0
	l.slots[0] = &slot{}
	now := time.Now()
	l.requestKey(7, false, now)
	if !l.slots[0].keyReq {
		t.Fatal("first request not passed to the slot")
	}
	l.slots[0].keyReq = false // the encoder served it
	l.requestKey(7, false, now.Add(bindingKeyInterval/2))
	l.serveDeferredKeys(now.Add(bindingKeyInterval / 2))
	if l.slots[0].keyReq {
		t.Fatal("second request inside the interval served at once")
	}
	l.serveDeferredKeys(now.Add(bindingKeyInterval))
	if !l.slots[0].keyReq {
		t.Fatal("deferred request never served")
	}
	l.slots[0].keyReq = false
	l.serveDeferredKeys(now.Add(3 * bindingKeyInterval))
	if l.slots[0].keyReq {
		t.Fatal("a deferred request served twice")
	}
}
