package peer

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// bottleneckSim is a sender at a 500 kbit/s bottleneck with a 400 ms
// queue (the bench's tbf), driven in 10 ms steps: the sender sends at the
// estimator's target in 1200-byte packets; the receiver's TWCC feedback
// (every 100 ms, after waiting in the same queue) and reports (every
// second, the round trip twice the queue: the reports cross the same
// link) go to the estimator. gcc stands as measured behind that
// bottleneck: it grows its target by 35 kbit/s per second and sees
// overuse only once the queue passes 300 ms, then falls to 0.85 × the
// link.
type bottleneckSim struct {
	t      *testing.T
	e      *estimator
	now    time.Time
	start  time.Time
	d      int     // gcc's delay-based target
	queue  float64 // bits waiting at the bottleneck
	credit float64 // bits the sender may still send
	twseq  uint16
	fb     []simArrival // since the last feedback
	sentFB []simFeedbackSent
	maxQ   time.Duration
	drops  int
	// link is the bottleneck's rate (simLink unless a test lifts it);
	// app, when not 0, is what the encoder produces whatever the target
	// (an application-limited sender).
	link, app int
}

// simFeedbackSent is a feedback on its way back: it waits behind the
// bottleneck's queue too (the bench's tbf is on the one loopback device).
type simFeedbackSent struct {
	due time.Time
	fb  *rtcp.TransportLayerCC
}

type simArrival struct {
	twseq uint16
	at    time.Duration // on the receiver's clock; < 0: dropped
}

const (
	simLink     = 500_000
	simQueueMax = 400 * time.Millisecond
	simPacket   = 1200 * 8
	simBase     = 5 * time.Millisecond // one-way delay without a queue
)

func newBottleneckSim(t *testing.T) *bottleneckSim {
	e, err := newEstimator(450_000, 80_000, 1_000_000, kinds{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	s := &bottleneckSim{t: t, e: e, now: time.Now(), d: 425_000, link: simLink}
	s.start = s.now
	e.gccDelay = func() int { return s.d }
	e.mu.Lock()
	e.congested, e.capacity = true, simLink // it has met the bottleneck before
	e.mu.Unlock()
	return s
}

func (s *bottleneckSim) queueDelay() time.Duration {
	return time.Duration(s.queue / float64(s.link) * float64(time.Second))
}

func (s *bottleneckSim) run(dur time.Duration) {
	const step = 10 * time.Millisecond
	for end := s.now.Add(dur); s.now.Before(end); {
		s.now = s.now.Add(step)
		elapsed := s.now.Sub(s.start)
		s.queue = max(s.queue-float64(s.link)*step.Seconds(), 0)
		rate := s.e.GetTargetBitrate()
		if s.app > 0 {
			rate = min(rate, s.app)
		}
		s.credit += float64(rate) * step.Seconds()
		for ; s.credit >= simPacket; s.credit -= simPacket {
			s.e.pacer.sent.record(s.twseq, 1, s.twseq, simPacket/8, s.now)
			a := simArrival{twseq: s.twseq, at: -1}
			if s.queue+simPacket <= float64(s.link)*simQueueMax.Seconds() {
				s.queue += simPacket
				// the receiver's clock starts elsewhere: its offset cancels
				a.at = time.Hour + elapsed + simBase + s.queueDelay()
			} else {
				s.drops++
			}
			s.fb = append(s.fb, a)
			s.twseq++
		}
		s.maxQ = max(s.maxQ, s.queueDelay())
		overuse := s.queueDelay() > 300*time.Millisecond
		if overuse {
			s.d = int(0.85 * float64(s.link))
		} else {
			s.d += int(35_000 * step.Seconds())
		}
		if elapsed%(100*time.Millisecond) == 0 && len(s.fb) > 0 {
			s.sentFB = append(s.sentFB, simFeedbackSent{s.now.Add(simBase + s.queueDelay()), simFeedback(s.fb)})
			s.fb = s.fb[:0]
		}
		for len(s.sentFB) > 0 && !s.sentFB[0].due.After(s.now) {
			s.e.addLoss(0, 0, s.now)
			s.e.addFeedbackDelay(s.sentFB[0].fb, s.now)
			s.sentFB = s.sentFB[1:]
		}
		if elapsed%time.Second == 0 {
			s.e.addRTT(2*(simBase+s.queueDelay()), s.now)
		}
		s.e.updateRamp(s.now, s.d, overuse)
	}
}

// simFeedback is the TWCC feedback reporting arrivals (consecutive
// transport numbers).
func simFeedback(as []simArrival) *rtcp.TransportLayerCC {
	fb := &rtcp.TransportLayerCC{BaseSequenceNumber: as[0].twseq, PacketStatusCount: uint16(len(as))}
	var last time.Duration
	for i, a := range as {
		sym := uint16(rtcp.TypeTCCPacketReceivedLargeDelta)
		if a.at < 0 {
			sym = rtcp.TypeTCCPacketNotReceived
		} else {
			if fb.RecvDeltas == nil {
				fb.ReferenceTime = uint32(a.at / (64 * time.Millisecond))
				last = time.Duration(fb.ReferenceTime) * 64 * time.Millisecond
			}
			fb.RecvDeltas = append(fb.RecvDeltas, &rtcp.RecvDelta{Type: sym, Delta: (a.at - last).Microseconds()})
			last = a.at
		}
		if n := len(fb.PacketChunks); i > 0 && fb.PacketChunks[n-1].(*rtcp.RunLengthChunk).PacketStatusSymbol == sym {
			fb.PacketChunks[n-1].(*rtcp.RunLengthChunk).RunLength++
			continue
		}
		fb.PacketChunks = append(fb.PacketChunks, &rtcp.RunLengthChunk{PacketStatusSymbol: sym, RunLength: 1})
	}
	return fb
}

// TestEstimatorSettledAtBottleneck: a sender settled at a bottleneck
// stays out of its full queue. gcc creeps above the link (additively) and
// notices only late; the one-way delay of the TWCC feedback shows the
// queue while it is short, and the target backs off before the queue is
// long (before: only the receiver reports' round trip, once a second,
// caught it at 150 ms or more: 308 ms here with the one-way delay left
// out; the bench saw the 400 ms queue overflow 16–25 s after the limit
// came on). With the feedback crossing the queue, as on the bench, the
// fast climb past the band (capacityMargin × the queue's capacity) at
// once after queueQuietAfter reached 264 ms; it now waits for the
// acknowledged rate.
func TestEstimatorSettledAtBottleneck(t *testing.T) {
	s := newBottleneckSim(t)
	s.run(10 * time.Second) // settle: the first queue, met at the ceiling, drained
	s.maxQ, s.drops = 0, 0
	s.run(40 * time.Second)
	if s.maxQ > 200*time.Millisecond || s.drops > 0 {
		t.Errorf("settled at a 500 kbit/s bottleneck: queue up to %v, %d packets dropped; want ≤ 200 ms (half the queue) and none", s.maxQ, s.drops)
	}
	// and it still uses the link: the target is not held far below it
	if got := s.e.GetTargetBitrate(); got < simLink/2 {
		t.Errorf("target %d at a %d link", got, simLink)
	}
}

// TestTWCCArrivals: arrival times come from the reference time and the
// deltas, for the received packets only.
func TestTWCCArrivals(t *testing.T) {
	in := []simArrival{{10, time.Hour + 3*time.Millisecond}, {11, -1}, {12, time.Hour + 9*time.Millisecond}}
	var got []simArrival
	twccArrivals(simFeedback(in), func(twseq uint16, at time.Duration) { got = append(got, simArrival{twseq, at}) })
	if len(got) != 2 || got[0] != in[0] || got[1] != in[2] {
		t.Errorf("arrivals %v, want %v and %v", got, in[0], in[2])
	}
}

// TestEstimatorQueueCapacityIsTheLinkRate: a keyframe's burst builds a
// queue at a target well under the link; the queue's capacity is the
// rate the receiver got (the link's), not that target (before: the
// target, and 10 % past it the queue-based target and the ramp raced on,
// into the full queue, seconds later).
func TestEstimatorQueueCapacityIsTheLinkRate(t *testing.T) {
	s := newBottleneckSim(t)
	s.run(10 * time.Second)
	s.e.mu.Lock()
	s.e.queueTarget = 300_000 // held low, as after a cut
	s.e.mu.Unlock()
	s.run(3 * time.Second) // no queue at 300 kbit/s
	s.credit += 40_000 * 8 // a keyframe, sent at once
	s.run(time.Second)
	s.e.mu.Lock()
	c := s.e.queueCap
	s.e.mu.Unlock()
	if c < 0.9*simLink || c > 1.1*simLink {
		t.Errorf("a burst's queue at a %d link: capacity %d, want the link's rate", simLink, c)
	}
}

// TestEstimatorClimbsFastFarBelowTheQueue: a queue-based target cut far
// below the queue's capacity (several cuts while a full queue drained)
// climbs back fast to near it, then slowly.
func TestEstimatorClimbsFastFarBelowTheQueue(t *testing.T) {
	s := newBottleneckSim(t)
	s.run(10 * time.Second)
	s.e.mu.Lock()
	s.e.queueTarget, s.e.queueCap = 100_000, simLink
	s.e.mu.Unlock()
	s.run(6 * time.Second)
	s.e.mu.Lock()
	q := s.e.queueTarget
	s.e.mu.Unlock()
	if q < int(queueBackoff*simLink) {
		t.Errorf("6 s after a cut to 100000 with no queue: queue target %d, want back near the %d link", q, simLink)
	}
}

// TestEstimatorNoRunawayPastLowCapacity (bench run b5n3): the queue's
// capacity was measured under the link (the bench's 340–480 kbit/s on a
// 500 kbit/s tbf) and the encoder produced far less than the target for a
// few seconds (9 s in b5n3, after the drop to 320×240). With no queue to stop them
// the queue-based target climbed past the band into its fast growth, and
// gcc's delay-based target ran on (to 870 kbit/s); once the encoder
// produced again the estimate was far above the link and the queue
// overflowed (before: 400 ms, packets dropped). The estimate grows only
// to 1.5 × what the receiver acknowledged, and past the band only after
// the acknowledged rate has stayed there.
func TestEstimatorNoRunawayPastLowCapacity(t *testing.T) {
	s := newBottleneckSim(t)
	s.run(10 * time.Second) // settled
	s.e.mu.Lock()
	s.e.queueCap = int(0.8 * simLink)
	s.e.queueTarget = int(queueBackoff * float64(s.e.queueCap))
	s.e.mu.Unlock()
	s.d = s.e.GetTargetBitrate()
	s.app = 150_000
	s.run(10 * time.Second)
	s.app = 0
	s.maxQ, s.drops = 0, 0
	s.run(30 * time.Second)
	if s.maxQ > 200*time.Millisecond || s.drops > 0 {
		t.Errorf("after 10 s application-limited with the capacity measured at %d on a %d link: queue up to %v, %d packets dropped; want ≤ 200 ms and none",
			int(0.8*simLink), simLink, s.maxQ, s.drops)
	}
	t.Logf("queue up to %v, %d dropped", s.maxQ, s.drops)
	if got := s.e.GetTargetBitrate(); got < simLink/2 {
		t.Errorf("target %d at a %d link", got, simLink)
	}
}

// TestEstimatorRecoversAfterBottleneck: settled at the bottleneck with the
// capacity measured low, the estimate is back above 90 % of the ceiling
// within 10 s (simulated) of the limit being lifted: the dwell past the
// band and the acknowledged-rate ceiling do not stall the climb.
func TestEstimatorRecoversAfterBottleneck(t *testing.T) {
	s := newBottleneckSim(t)
	s.run(10 * time.Second)
	s.e.mu.Lock()
	s.e.queueCap = int(0.8 * simLink)
	s.e.mu.Unlock()
	s.run(20 * time.Second)
	s.link = 10_000_000
	lifted := s.now
	for s.e.GetTargetBitrate() < 9*s.e.max/10 && s.now.Sub(lifted) < 30*time.Second {
		s.run(100 * time.Millisecond)
	}
	took := s.now.Sub(lifted)
	t.Logf("back above 90%% of the ceiling %v after the limit was lifted", took)
	if took > 10*time.Second {
		t.Errorf("back above 90%% of the ceiling %v after the limit was lifted (%s), want within 10 s", took, s.e.debugState())
	}
}

// TestSendLogSentRate: the rate the pacer let out counts the packets sent
// within the span only.
func TestSendLogSentRate(t *testing.T) {
	var l sendLog
	now := time.Unix(100, 0)
	for i := range 100 { // 100 packets of 1000 bytes over 2 s
		l.record(uint16(i), 1, uint16(i), 1000, now.Add(time.Duration(i)*20*time.Millisecond))
	}
	end := now.Add(99 * 20 * time.Millisecond)
	if got := l.sentRate(end, time.Second); got != 50*1000*8 {
		t.Errorf("50 packets of 1000 bytes in the last second: %d bit/s, want %d", got, 50*1000*8)
	}
}
