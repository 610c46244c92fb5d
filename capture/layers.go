package capture

// layers.go: the adaptive encodings of one live video codec.
//
// A live video track encodes each frame once per layer, not once per
// receiver. Each binding (one PeerConnection) has a bandwidth estimate
// (Config.Estimate, fed by that connection's congestion controller); the
// estimates are grouped into at most maxLayers layers, best first.
//
// Invariants:
//   - A codec has at most maxLayers layers (slots); slot 0 is the best.
//     A slot exists while some binding is on it or moving to it.
//   - A slot's target is the lowest estimate of the bindings on it or
//     moving to it: every peer gets the best layer at or below its estimate.
//   - Layers are split or merged only after the grouping has been the same
//     for layerStable evaluations, so estimates that wobble do not create
//     and destroy encoders.
//   - A binding receives exactly one slot's packets. It changes slot only at
//     a keyframe of the new slot, so its decoder never lacks a reference.
//   - RTP sequence numbers are per binding (continuous across slot
//     changes); RTP timestamps are per codec (the capture time), so a slot
//     change is seamless for the receiver's jitter buffer.
//   - A keyframe request from one receiver forces a keyframe only on its
//     own slot, at most once per keyFrameInterval per slot and once per
//     bindingKeyInterval per binding: a lossy receiver cannot make the
//     others pay for keyframe after keyframe. A request inside either
//     interval is deferred to its end, never dropped: the receiver that
//     asked is frozen until it is served.
//   - A binding whose packet pion took without sending it (n = 0, no
//     error: the connection's SRTP session is not up yet; an offerer's
//     pion binds its tracks when it applies the answer, before ICE and
//     DTLS) has no keyframe at its receiver: it gets no more inter frames
//     until a keyframe of its slot has left in full, and its slot forces
//     one at most every unsentKeyInterval meanwhile. Without this, a
//     handshake longer than the first frame loses the encoder's first
//     keyframe and the receiver starts with frames it cannot decode
//     (e.g. with coalesced reads, internal/rxbatch, at either end).
//   - Under lowRate a slot halves the resolution, under lowerRate also the
//     frame rate (as browsers do). It climbs back to full size only at a
//     target with room for the bigger picture and its keyframe (climbRate
//     for 640×480, by pixel count; at most the ceiling), held at every
//     evaluation for climbHold; and it waits longer after each climb that
//     fell back (ladder, setRung).

import (
	"image"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

const (
	maxLayers = 3
	// layerSpread: an estimate below this fraction of its group's best
	// starts a new (lower) layer.
	layerSpread = 0.7
	// layerEvery is how often estimates are read and targets updated.
	layerEvery = 500 * time.Millisecond
	// layerStable is the number of equal groupings in a row needed to
	// split or merge layers.
	layerStable = 4
	// bindingKeyInterval is the shortest time between two keyframe
	// requests honoured for one binding (the same as a slot's: with 5 %
	// loss a receiver asks about once every few seconds, and each request
	// it waits for is a freeze on its screen).
	bindingKeyInterval = keyFrameInterval
	// unsentKeyInterval is the shortest time between two keyframes a slot
	// forces for bindings whose packets were not sent yet (see the file
	// comment): a connection that takes long to come up must not turn a
	// slot other receivers share into a stream of keyframes.
	unsentKeyInterval = 100 * time.Millisecond
	// Resolution and frame-rate ladder (bits/s).
	lowRate   = 300_000 // below: half resolution
	lowerRate = 150_000 // below: half resolution and half frame rate
	rungUp    = 1.2     // climbing back needs this much above the threshold
	// climbRate is the target at which a 640×480 source climbs back from
	// half to full size, scaled by the source's pixel count (never under
	// rungUp × lowRate, never over the ceiling). The old climb, at rungUp
	// × lowRate (360 kbit/s), failed in nearly every bottleneck run
	// (BENCHMARKS.md, "The ladder's climb"): behind a 500 kbit/s link the
	// target reaches 360–490 kbit/s, and the full-size keyframe (up to 9
	// frames' worth, vp8.go) into that nearly full link builds a queue,
	// the estimate is cut under lowRate and the slot falls back 1–3 s
	// later, a keyframe and often a freeze each way. libwebrtc's default
	// VP8 resolution limits likewise want 500 kbit/s to start a frame
	// larger than 640×360.
	climbRate       = 500_000
	climbRatePixels = 640 * 480
	// climbHold: a climb needs its target at every evaluation for this
	// long. A bottleneck's estimate saws: it passes the link for a second
	// or two before each cut (longer when it races past the queue's
	// capacity, BENCHMARKS.md), and a climb into that peak fails.
	climbHold = 3 * time.Second
	// A slot stays on a ladder point at least this long before it climbs
	// (or descends) again.
	rungUpDwell   = 6 * time.Second
	rungDownDwell = time.Second
	// A climb followed by a descent within rungProbation failed; each
	// failed climb doubles the up dwell, up to rungUpDwellMax.
	rungProbation  = 10 * time.Second
	rungUpDwellMax = time.Minute
	// minScaledWidth: a source narrower than twice this is never halved.
	minScaledWidth = 160
)

// rung is a point of the resolution/frame-rate ladder.
type rung struct {
	div    int // 1: full size, 2: half size
	fpsDiv int // 1: every frame, 2: every other frame
}

// ladder is the resolution/frame-rate ladder of one source.
type ladder struct {
	canScale bool // the source is wide enough to halve
	fullUp   int  // the target from which a halved slot climbs to full size
}

// newLadder returns the ladder of a w×h source whose slots' targets are at
// most ceiling (bits/s; 0: none).
func newLadder(w, h, ceiling int) ladder {
	up := max(climbRate*w*h/climbRatePixels, int(rungUp*lowRate))
	if ceiling > 0 {
		up = min(up, ceiling) // at the ceiling there is nothing left to wait for
	}
	return ladder{canScale: w >= 2*minScaledWidth, fullUp: up}
}

// rungFor returns the ladder point for target, given the current one
// (hysteresis: climbing needs rungUp times the threshold, and fullUp for
// full size).
func (ld ladder) rungFor(target int, cur rung) rung {
	if !ld.canScale {
		return rung{div: 1, fpsDiv: 1}
	}
	switch {
	case target < lowerRate:
		return rung{div: 2, fpsDiv: 2}
	case target < lowRate:
		if cur.fpsDiv == 2 && float64(target) < rungUp*lowerRate {
			return cur
		}
		return rung{div: 2, fpsDiv: 1}
	case cur.div == 2 && target < ld.fullUp:
		return rung{div: 2, fpsDiv: 1} // target ≥ lowRate > rungUp × lowerRate
	default:
		return rung{div: 1, fpsDiv: 1}
	}
}

// setRung moves the slot to r unless it moved too recently: down after
// rungDownDwell, up after the slot's up dwell and only once every
// evaluation for climbHold has asked for a climb. A change of size costs a
// keyframe, so an estimate that wobbles around a threshold must not flip
// it. It reports whether the slot moved.
//
// A climb that falls back within rungProbation failed: the keyframe of the
// bigger picture, sent into a link near its capacity, is what made the
// estimate dip (measured behind a 500 kbit/s bottleneck: up at 360–440
// kbit/s, back down 1–3 s later, a keyframe and a freeze at the receiver
// each way, every 7–9 s). Each failed climb doubles the up dwell, up to
// rungUpDwellMax; a climb that holds resets it (libwebrtc similarly backs
// off resolution increases that did not stick).
func (s *slot) setRung(r rung, now time.Time) bool {
	down := r.div > s.rung.div || r.fpsDiv > s.rung.fpsDiv
	up := r != s.rung && !down
	switch {
	case !up:
		s.upSince = time.Time{}
	case s.upSince.IsZero():
		s.upSince = now
	}
	if r == s.rung {
		return false
	}
	dwell := s.upDwell()
	if down {
		dwell = rungDownDwell
	}
	if !s.rungAt.IsZero() && now.Sub(s.rungAt) < dwell {
		return false
	}
	if up && now.Sub(s.upSince) < climbHold {
		return false
	}
	switch {
	case down && !s.climbedAt.IsZero() && now.Sub(s.climbedAt) < rungProbation:
		s.failedClimbs++
	case down && !s.climbedAt.IsZero():
		s.failedClimbs = 0 // the last climb held
	case !down:
		s.climbedAt = now
	}
	s.rung, s.rungAt, s.upSince = r, now, time.Time{}
	return true
}

// upDwell is how long the slot stays on a ladder point before it climbs.
func (s *slot) upDwell() time.Duration {
	return min(rungUpDwell<<min(s.failedClimbs, 8), rungUpDwellMax)
}

// slot is one encoding of a codec.
type slot struct {
	enc    videoEncoder
	w, h   int
	rung   rung
	rungAt time.Time // when rung last changed
	// climbedAt is when the slot last climbed the ladder; failedClimbs
	// counts the climbs in a row that fell back within rungProbation.
	climbedAt    time.Time
	failedClimbs int
	// upSince is the first of the evaluations in a row that asked for a
	// climb (zero: the last one did not).
	upSince time.Time
	target  int
	set     int // bitrate last given to the encoder
	pay     rtp.Payloader
	keyReq  bool
	lastKey time.Time
	// keyUnsent: a binding on the slot waits for a keyframe that leaves
	// (bindState.unsent); lastUnsentKey is when one was last forced for it.
	keyUnsent     bool
	lastUnsentKey time.Time
	frameN        int
}

// bindState is the pipeline's state for one binding.
type bindState struct {
	b         binding
	seq       uint16
	cur, want int // slot indices; -1: none yet
	estimate  int
	lastReq   time.Time
	keyLater  bool // a request inside bindingKeyInterval, served at its end
	// unsent: pion took one of this binding's packets without sending it;
	// until a keyframe leaves in full the binding gets no inter frames.
	unsent bool
}

// layerSet holds the slots and bindings of one codec.
type layerSet struct {
	key      codecKey
	slots    [maxLayers]*slot
	binds    map[string]*bindState
	tsBase   uint32
	lastEval time.Time
	proposal []int // grouping waiting to become stable, by sorted binding id
	stable   int
}

func newLayerSet(key codecKey) *layerSet {
	return &layerSet{key: key, binds: map[string]*bindState{}, tsBase: rand.Uint32()}
}

// sync brings the binding states in line with the track's bindings.
func (l *layerSet) sync(bs []binding) {
	seen := make(map[string]bool, len(bs))
	for _, b := range bs {
		seen[b.id] = true
		if st, ok := l.binds[b.id]; ok {
			st.b = b
			continue
		}
		l.binds[b.id] = &bindState{b: b, seq: uint16(rand.Uint32()), cur: -1, want: -1}
	}
	for id := range l.binds {
		if !seen[id] {
			delete(l.binds, id)
		}
	}
	l.lastEval = time.Time{} // re-evaluate at the next frame
}

// ids returns the binding ids sorted, for a stable iteration order.
func (l *layerSet) ids() []string {
	ids := make([]string, 0, len(l.binds))
	for id := range l.binds {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// evaluate reads the estimates, regroups the bindings when the grouping is
// stable, and sets every slot's target and ladder point.
func (l *layerSet) evaluate(v *liveVideo, src image.Rectangle, now time.Time) {
	ids := l.ids()
	for _, id := range ids {
		st := l.binds[id]
		e := v.ceiling
		if v.estimate != nil {
			if got, ok := v.estimate(uint32(st.b.ssrc)); ok {
				e = got
			}
		}
		st.estimate = min(max(e, v.floor), v.ceiling)
	}
	want := l.group(ids)
	if !slices.Equal(want, l.proposal) {
		l.proposal, l.stable = want, 0
	}
	l.stable++
	regroup := l.stable >= layerStable
	for i, id := range ids {
		st := l.binds[id]
		if st.want == -1 || regroup {
			st.want = want[i]
		}
	}
	// Targets: the lowest estimate on or moving to each slot.
	var targets [maxLayers]int
	for _, id := range ids {
		st := l.binds[id]
		for _, s := range []int{st.cur, st.want} {
			if s >= 0 && (targets[s] == 0 || st.estimate < targets[s]) {
				targets[s] = st.estimate
			}
		}
	}
	ld := newLadder(src.Dx(), src.Dy(), v.ceiling)
	for i := range l.slots {
		if targets[i] == 0 {
			if l.slots[i] != nil {
				l.slots[i].close()
				l.slots[i] = nil
				v.log.Debug("layer stopped", "codec", l.key, "layer", i)
			}
			continue
		}
		s := l.slots[i]
		if s == nil {
			s = &slot{rung: rung{div: 1, fpsDiv: 1}, pay: newPayloader(l.key)}
			l.slots[i] = s
		}
		s.target = targets[i]
		from := s.rung
		if s.setRung(ld.rungFor(s.target, s.rung), now) {
			v.log.Debug("layer rung", "codec", l.key, "layer", i, "target", s.target,
				"div", s.rung.div, "fps_div", s.rung.fpsDiv, "from_div", from.div, "from_fps_div", from.fpsDiv,
				"full_up", ld.fullUp, "failed_climbs", s.failedClimbs)
		}
	}
	// A binding waiting for a running slot needs a keyframe on it (a new
	// encoder starts with one).
	for _, st := range l.binds {
		if st.want >= 0 && st.want != st.cur && l.slots[st.want].enc != nil {
			l.slots[st.want].keyReq = true
		}
	}
}

// group assigns each binding (in ids order) a slot: estimates sorted from
// the best; a new layer starts when an estimate falls below layerSpread of
// its group's best, up to maxLayers.
func (l *layerSet) group(ids []string) []int {
	order := make([]int, len(ids))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return l.binds[ids[order[a]]].estimate > l.binds[ids[order[b]]].estimate
	})
	out := make([]int, len(ids))
	layer, top := -1, 0
	for _, i := range order {
		e := l.binds[ids[i]].estimate
		if layer < 0 || (float64(e) < layerSpread*float64(top) && layer < maxLayers-1) {
			layer++
			top = e
		}
		out[i] = layer
	}
	return out
}

// requestKey asks for a keyframe on the slot of binding id (or of every
// binding when id is ""), within the per-binding limit.
func (l *layerSet) requestKey(ssrc uint32, all bool, now time.Time) {
	if all {
		for _, s := range l.slots {
			if s != nil {
				s.keyReq = true
			}
		}
		return
	}
	for _, st := range l.binds {
		if uint32(st.b.ssrc) != ssrc {
			continue
		}
		st.keyLater = true
		l.serveKey(st, now)
	}
}

// serveDeferredKeys passes on the deferred keyframe requests whose
// binding interval has passed. Called on every frame.
func (l *layerSet) serveDeferredKeys(now time.Time) {
	for _, st := range l.binds {
		if st.keyLater {
			l.serveKey(st, now)
		}
	}
}

// serveKey asks the binding's slot for a keyframe if the binding's interval
// allows; else the request stays pending.
func (l *layerSet) serveKey(st *bindState, now time.Time) {
	if now.Sub(st.lastReq) < bindingKeyInterval {
		return
	}
	st.lastReq, st.keyLater = now, false
	for _, s := range []int{st.cur, st.want} {
		if s >= 0 && l.slots[s] != nil {
			l.slots[s].keyReq = true
		}
	}
}

func (s *slot) close() {
	if s.enc != nil {
		s.enc.Close()
		s.enc = nil
	}
}

func (l *layerSet) closeAll() {
	for i, s := range l.slots {
		if s != nil {
			s.close()
			l.slots[i] = nil
		}
	}
}

// sendInfo is what a binding gets, for statistics.
type sendInfo struct {
	Target int // bits/s of its layer's encoder
	Layer  int // 0 = best
	Width  int
	Height int
}

func (l *layerSet) info(out map[uint32]sendInfo) {
	for _, st := range l.binds {
		s := st.cur
		if s < 0 {
			s = st.want
		}
		if s < 0 || l.slots[s] == nil {
			continue
		}
		out[uint32(st.b.ssrc)] = sendInfo{Target: l.slots[s].target, Layer: s, Width: l.slots[s].w, Height: l.slots[s].h}
	}
}

func newPayloader(key codecKey) rtp.Payloader {
	if key == keyH264 {
		return &codecs.H264Payloader{}
	}
	return &codecs.VP8Payloader{EnablePictureID: true}
}

// send packetizes one frame of slot i (key: a keyframe), captured at
// captured (captured.go), and writes it to the bindings on that slot, each
// with its own sequence numbers. A binding that waits for a keyframe that
// leaves (unsent) gets no inter frame; it asks its slot for a keyframe.
func (l *layerSet) send(i int, frame []byte, key bool, ts uint32, captured time.Time) {
	var targets []*bindState
	for _, st := range l.binds {
		if st.cur != i {
			continue
		}
		if st.unsent && !key {
			l.slots[i].keyUnsent = true
			continue
		}
		targets = append(targets, st)
	}
	if len(targets) == 0 {
		return
	}
	for _, st := range targets {
		noteCapture(st.b, l.tsBase+ts, captured)
	}
	payloads := l.slots[i].pay.Payload(rtpMTU-rtpHeaderSize, frame)
	var unsent map[*bindState]bool // bindings with a packet pion took without sending
	for n, pl := range payloads {
		for _, st := range targets {
			if unsent[st] {
				continue // the rest of a frame whose start did not leave is useless
			}
			h := rtp.Header{
				Version:        2,
				Marker:         n == len(payloads)-1,
				SequenceNumber: st.seq,
				Timestamp:      l.tsBase + ts,
				SSRC:           uint32(st.b.ssrc),
				PayloadType:    uint8(st.b.pt),
			}
			st.seq++
			if n, err := st.b.write.WriteRTP(&h, pl); n == 0 && err == nil {
				if unsent == nil {
					unsent = map[*bindState]bool{}
				}
				unsent[st] = true
			}
		}
	}
	for _, st := range targets {
		st.unsent = unsent[st]
		if st.unsent {
			l.slots[i].keyUnsent = true
		}
	}
}
