package playback

// The adaptive jitter buffer of one remote audio stream.
//
// Why not pion/interceptor's jitterbuffer: it orders packets by sequence
// number and starts after a fixed packet count (50 by default, a second of
// Opus), with no notion of time, no delay estimate and no bound that drops
// (overflow is only counted). A browser's NetEq instead keeps a target delay
// estimated from the measured arrival jitter and steers the buffer to it.
// This file does the same, in the small:
//
//   - Packets are kept by their extended RTP timestamp (Opus frames may vary
//     in length, sequence numbers say nothing about time), sorted, at most
//     maxPackets and maxSpan of audio; past that the oldest are dropped.
//   - Each packet's relative delay is its transit (arrival − media time)
//     minus the smallest transit of the last minWindow packets (≈ 2 s, as
//     NetEq, so that a slow drift between the sender's and our clocks is not
//     taken for jitter). The target delay is the 95th percentile of the
//     relative delays of the last delayWindow packets (≈ 5 s, so a spike is
//     remembered a while) plus one frame, in [minTarget, maxTarget].
//   - The playout side (stream.go) starts when the buffered audio reaches
//     the target, conceals when the next frame is missing, and drops one
//     frame (accelerate) when over 100 ms the buffer never went below
//     target + one frame (so it follows a device up to 20 % slower than
//     the sender).
//
// All methods run under the owning stream's lock.

import (
	"slices"
	"time"
)

const (
	maxPackets  = 64                    // stored packets (≈ 1.3 s of 20 ms frames)
	maxSpan     = Rate                  // samples of audio a buffer may hold ahead of playout (1 s)
	minWindow   = 100                   // packets whose smallest transit is the reference (≈ 2 s)
	delayWindow = 250                   // packets whose relative delays the target looks at (≈ 5 s)
	minTarget   = 10 * time.Millisecond // never aim below one device period
	maxTarget   = 500 * time.Millisecond
	maxPayload  = 1500 // bytes; an RTP payload larger than an MTU is not Opus from a browser
)

// jbPacket is one stored packet.
type jbPacket struct {
	ts      int64 // extended RTP timestamp
	samples int
	payload []byte
	arrival time.Time
}

func (p jbPacket) end() int64 { return p.ts + int64(p.samples) }

// jitterBuffer holds one stream's packets and its delay estimate.
type jitterBuffer struct {
	pkts []jbPacket // sorted by ts, no two with the same ts

	// timestamp unwrapping
	haveTS bool
	lastTS uint32
	lastEx int64

	// delay estimate
	transit []float64 // seconds, ring of minWindow
	tpos    int
	rel     []float64 // relative delays, seconds, ring of delayWindow
	rpos    int
	sorted  []float64 // scratch for the percentile
	target  time.Duration
	frame   int // samples of the last stored packet
}

func newJitterBuffer() *jitterBuffer {
	return &jitterBuffer{
		pkts:    make([]jbPacket, 0, maxPackets+1),
		transit: make([]float64, 0, minWindow),
		rel:     make([]float64, 0, delayWindow),
		sorted:  make([]float64, 0, delayWindow),
		target:  minTarget,
		frame:   Rate / 50,
	}
}

// extend turns a 32-bit RTP timestamp into a 64-bit one that keeps growing
// across wraps (and may go back a little for reordered packets).
func (j *jitterBuffer) extend(ts uint32) int64 {
	if !j.haveTS {
		j.haveTS, j.lastTS, j.lastEx = true, ts, int64(ts)
		return j.lastEx
	}
	ex := j.lastEx + int64(int32(ts-j.lastTS))
	if ex > j.lastEx {
		j.lastTS, j.lastEx = ts, ex
	}
	return ex
}

// observe feeds one packet's arrival into the delay estimate.
func (j *jitterBuffer) observe(ts int64, arrival time.Time) {
	tr := float64(arrival.UnixNano())/1e9 - float64(ts)/Rate
	j.transit, j.tpos = pushRing(j.transit, j.tpos, minWindow, tr)
	j.rel, j.rpos = pushRing(j.rel, j.rpos, delayWindow, tr-slices.Min(j.transit))
	j.sorted = append(j.sorted[:0], j.rel...)
	slices.Sort(j.sorted)
	p95 := j.sorted[(len(j.sorted)-1)*95/100]
	t := time.Duration(p95*float64(time.Second)) + time.Duration(j.frame)*time.Second/Rate
	j.target = min(max(t, minTarget), maxTarget)
}

// pushRing appends v to a ring of size n that is filled up to len(r).
func pushRing(r []float64, pos, n int, v float64) ([]float64, int) {
	if len(r) < n {
		return append(r, v), pos
	}
	r[pos] = v
	return r, (pos + 1) % n
}

// insert stores p in order. It reports false for a duplicate. When the
// buffer is full it drops the oldest packets and returns how many.
func (j *jitterBuffer) insert(p jbPacket) (ok bool, overflow int) {
	i, found := slices.BinarySearchFunc(j.pkts, p.ts, func(q jbPacket, ts int64) int {
		switch {
		case q.ts < ts:
			return -1
		case q.ts > ts:
			return 1
		}
		return 0
	})
	if found {
		return false, 0
	}
	j.pkts = slices.Insert(j.pkts, i, p)
	j.frame = p.samples
	for len(j.pkts) > maxPackets || j.pkts[len(j.pkts)-1].end()-j.pkts[0].ts > maxSpan {
		j.pkts[0] = jbPacket{}
		j.pkts = j.pkts[1:]
		overflow++
	}
	if cap(j.pkts) < maxPackets+1 { // keep the backing array from creeping forward without bound
		j.pkts = append(make([]jbPacket, 0, maxPackets+1), j.pkts...)
	}
	return true, overflow
}

// span is the audio buffered from ts on, in samples.
func (j *jitterBuffer) span(ts int64) int {
	if len(j.pkts) == 0 {
		return 0
	}
	return int(max(0, j.pkts[len(j.pkts)-1].end()-ts))
}

// first returns the oldest stored packet.
func (j *jitterBuffer) first() (jbPacket, bool) {
	if len(j.pkts) == 0 {
		return jbPacket{}, false
	}
	return j.pkts[0], true
}

// popBefore removes and counts the packets that end at or before ts (too
// late to play).
func (j *jitterBuffer) popBefore(ts int64) int {
	n := 0
	for len(j.pkts) > 0 && j.pkts[0].end() <= ts {
		j.pkts[0] = jbPacket{}
		j.pkts = j.pkts[1:]
		n++
	}
	return n
}

// pop removes the oldest packet.
func (j *jitterBuffer) pop() jbPacket {
	p := j.pkts[0]
	j.pkts[0] = jbPacket{}
	j.pkts = j.pkts[1:]
	return p
}

// reset forgets the stored packets (not the delay estimate).
func (j *jitterBuffer) reset() {
	clear(j.pkts)
	j.pkts = j.pkts[:0]
}
