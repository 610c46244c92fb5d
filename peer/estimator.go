package peer

// estimator.go: one PeerConnection's bandwidth estimate.
//
// pion's gcc is used for its delay-based part (the overuse detector and
// rate controller fed by TWCC). Its loss-based part judges every TWCC
// report on its own (often ten packets): under steady random loss of a
// few percent some reports exceed 10 % and cut the rate, and none is
// under 2 % to raise it again, so the rate ratchets down to the minimum on
// a link that has plenty of capacity. estimator replaces that part with
// the same thresholds (GCC draft: < 2 % increase, > 10 % decrease) judged
// over windows of at least lossWindow and lossPackets, as libwebrtc does
// with its loss reports.
//
// pion's gcc also ramps slowly: 8 %/s at best, additively (≈ 30 kbit/s
// per second) near the rate of its last decrease, and it never probes. So
// after a bottleneck is lifted it takes 10–15 s to find the link again.
// estimator adds a ramp of its own on top of gcc's delay-based target, the
// role libwebrtc gives to its probes (at start, and when the link looks
// free again). A congestion signal is gcc in overuse or decreasing, or a
// loss window at 2 % or more; the rate we sent at when it came is the
// link's last known capacity. The ramp grows the target by startGrowth
// per second until the first signal; after that, only once the signals
// have been quiet for quietAfter and gcc's own (slow) increase has carried
// the target past capacityMargin × that capacity without a new signal:
// the old limit is gone, and the ramp grows by quietGrowth per second.
// Near the capacity (a sender sitting at a bottleneck) gcc alone moves the
// rate, so the ramp never pushes a full queue further. Any signal drops
// the ramp back to gcc's own target, which has by then fallen to 0.85 ×
// the rate the receiver saw (gcc's decrease).
//
// Loss that does not come from our rate is not congestion. A link that
// always loses a few percent (radio, a lossy relay) keeps every window in
// the GCC draft's 2–10 % "hold" band: a target cut once (a burst over
// 10 %, common when the machine is loaded) then never rises again, and
// the ramp, which a loss window would stop, never starts: measured here,
// a sender stuck at 170 kbit/s, half size and half frame rate, for the
// whole call on a 5 % loss link with plenty of capacity. So estimator
// learns the link's usual loss (baseLoss, an average over windows, each
// counted at most lossDecrease) and judges a window against it: a window
// no more than lossIncrease above the usual loss raises the target and is
// no congestion signal; over lossDecrease still cuts (libwebrtc's
// loss-based v2 similarly separates the link's inherent loss from loss
// that grows with the rate).
//
// A standing queue is congestion too. gcc's delay-based part reacts to
// the delay's trend against an adaptive threshold, which grows with the
// delay's noise: on a loaded machine (every timestamp jittery) it
// stopped seeing a bottleneck's queue fill, the target sat at 330–450
// kbit/s on a 500 kbit/s link with the 400 ms tbf queue full, and the
// receiver froze for 1–1.5 s at a time, frames arriving in bursts. And a
// sender settled at a bottleneck creeps above it again (gcc's additive
// increase, ≈ 35 kbit/s per second) until the trend crosses that
// threshold, which a slowly growing queue takes seconds to do: measured
// here, 16–25 s after a 500 kbit/s limit came on, the round trip went
// from 10 ms to 600–890 ms and the tbf queue overflowed.
// estimator therefore measures the queue itself, two ways, each against
// its floor (the lowest value of the last minRTTWindow):
//   - the one-way delay of every packet a TWCC feedback reports (arrival
//     on the receiver's clock − our send time, from the pacer's sendLog;
//     the clocks' offset cancels against the floor), the lowest of each
//     feedback: more than owdQueueLimit over the floor is a queue. It
//     comes every 50–100 ms, so a queue is seen while it is still short;
//     the lowest of a feedback ignores a receiver that was descheduled
//     for part of it;
//   - the round trip from the receiver's reports (LSR/DLSR), more than
//     queueDelayLimit over its floor: only when no feedback has given a
//     one-way delay for owdStale (it comes once a second, and a stale
//     sample of a draining queue would cut again).
// A queue that appears cuts the queue-based target to queueBackoff × the
// current estimate, and the rate the receiver got then is the queue's
// capacity (queueCap): the feedback that shows the queue reports packets
// that all waited in it, so they left it back to back, at the link's
// rate, whatever we sent (bytes over their arrival span; the estimate
// itself when only the round trip showed the queue). A keyframe's burst
// can build a short queue at a target well under the link: taking that
// target for the capacity let this target and the ramp race past the
// link seconds later. It cuts again at most once per queueCutEvery, and
// only while the queue is not draining (its delay no lower than at the
// last cut). While no queue is seen the target grows by queueGrowth per
// second near the capacity (from queueBackoff × to capacityMargin × it: a
// queue is close), and by quietGrowth once none has been seen for
// queueQuietAfter and the target is below that band (cut more than once
// while a queue stood: measured, a target held at 95 kbit/s on a 500
// kbit/s link took 18 s to climb back at 8 %/s). Past the band it grows
// by queueGrowth still, and by aboveGrowth (half quietGrowth: with the
// capacity measured at 0.6–0.7 × the link, 50 %/s overshot it by half in
// the simulation) only once the acknowledged rate (below) has passed the
// band and stayed over the capacity with no queue for bandDwell (a
// window's rate dips under the band's top): the limit is gone, or the
// capacity was measured low. It was measured at 340–480
// kbit/s on the bench's 500 kbit/s tbf (the link also carries audio and
// the receiver's RTCP; a feedback's packets do not all arrive back to
// back), so the band could end under the link, and a target that only had
// to pass it climbed 50 %/s into the full queue (bench run b5n3: 461 → 947
// kbit/s in 2 s, the round trip 877 ms, 14 packets lost). As libwebrtc's
// rate control: additive near its link capacity estimate, multiplicative
// away from it. A queue is a congestion signal for the ramp, and the ramp
// too waits for the estimate itself (not gcc's part alone, which climbs on
// while the queue-based target holds the rate) to pass capacityMargin ×
// capacity. The queue-based target grows only while it holds the
// estimate: above a rate that another part holds lower it is untested,
// and it crept there
// (bench run n9: to 610 kbit/s, 1.6 × its capacity, while gcc's part held
// the estimate at 330–460 kbit/s) until the ramp took the estimate up to
// it in one step (583 kbit/s on the 500 kbit/s link: 749 ms round trip).
//
// What the receiver acknowledged bounds every increase. acked is the rate
// of the bytes TWCC feedback reports arrived, over windows of ackWindow
// of arrivals. The estimate may rise to ackHeadroom × acked + ackSlack
// and no further (ackLimit; libwebrtc caps its AIMD estimate the same
// way); an estimate already above it is not cut, so an encoder that
// sends less than it may (a still picture) keeps its rate. Without it,
// an encoder sending 100–180 kbit/s for 9 s (b5n3, after the drop to
// 320×240) showed no queue while gcc's delay-based target climbed to 870
// kbit/s and the queue-based target to the ceiling; once the encoder sent
// again, the estimate went from 460 to 870 kbit/s in one step. pion's gcc
// caps its own increase at 1.5 × the received rate only while the
// received rate is above its target. The queue-based target grows no
// further than ackLimit either, so its band is crossed at the rate that
// was really sent.
//
// The estimate is min(max(delay-based, ramp), loss-based, queue-based,
// ackLimit); the pacer follows it.

import (
	"fmt"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/rtcp"
)

const (
	lossWindow   = time.Second
	lossPackets  = 50
	lossIncrease = 0.02
	lossDecrease = 0.10
	lossGrowth   = 1.25 // per clean window: pion's 5 % per 200 ms
	// baseLossWeight is the weight of a new window in baseLoss.
	baseLossWeight = 0.25
	// steadyLossMin is the usual loss from which a link counts as lossy
	// at random (steadyLoss).
	steadyLossMin = 0.01

	startGrowth    = 1.0 // per second, before the first congestion signal
	quietGrowth    = 0.5 // per second, past the last capacity without a signal
	quietAfter     = time.Second
	capacityMargin = 1.1
	maxGrowStep    = 200 * time.Millisecond // longest gap counted between two feedbacks

	queueDelayLimit = 150 * time.Millisecond // round trip over its floor
	owdQueueLimit   = 80 * time.Millisecond  // one-way delay over its floor
	maxDelayJump    = 10 * time.Second       // a delay this far off its floor: a clock reset
	owdStale        = 2 * time.Second
	minRateSpan     = 10 * time.Millisecond // of arrivals, for a received rate
	queueBackoff    = 0.85
	queueCutEvery   = time.Second
	queueGrowth     = 0.08 // per second
	queueQuietAfter = 3 * time.Second
	minRTTWindow    = 30 * time.Second

	// bandDwell: how long the acknowledged rate must stay over the
	// queue's capacity, with no queue, once past capacityMargin × it,
	// before the queue-based target may climb fast above it.
	bandDwell   = 3 * time.Second
	aboveGrowth = 0.25 // per second, past the band after bandDwell
	// The estimate grows to at most ackHeadroom × the acknowledged rate +
	// ackSlack (libwebrtc's AIMD rate control: 1.5 × + 10 kbit/s).
	ackHeadroom = 1.5
	ackSlack    = 10_000
	ackWindow   = 500 * time.Millisecond // of arrivals, per acknowledged rate
)

// estimator implements cc.BandwidthEstimator around gcc.SendSideBWE.
type estimator struct {
	*gcc.SendSideBWE
	pacer    *pacer
	min, max int
	// gccDelay is gcc's delay-based target (gccDelayTarget; a test may
	// stand in for gcc). Set before use.
	gccDelay func() int

	mu          sync.Mutex
	lossTarget  int
	windowStart time.Time
	got, lost   int
	lastLoss    float64
	baseLoss    float64 // the link's usual loss (see the file comment)

	ramp       int       // the ramp's target (0: none, gcc's own)
	congested  bool      // a congestion signal was ever seen
	capacity   int       // the target when the last congestion signal came
	lastSignal time.Time // of the last congestion signal
	lastDelay  int       // gcc's delay-based target at the last feedback
	lastGrow   time.Time

	queueTarget int           // the queue-based target (see the file comment)
	queueCap    int           // the queue's capacity (see the file comment)
	minRTT      delayFloor    // of the receiver reports' round trip
	minOWD      delayFloor    // of the TWCC feedback's one-way delay
	owdBase     time.Time     // origin of the send times in a one-way delay
	lastRTT     time.Duration // from the last receiver report
	lastQueue   time.Duration // one-way delay over its floor, last feedback
	queueCut    time.Time     // when queueTarget was last cut
	queueAtCut  time.Duration // the queue's delay then
	owdAt       time.Time     // when a feedback last gave a one-way delay
	rcvRate     int           // bits/s the receiver got over the last feedback (0: unknown)
	queueGrow   time.Time     // when queueTarget last grew
	queuedRTT   bool          // the last round trip showed a queue
	queuedOWD   bool          // the last feedback's one-way delay did
	queued      bool          // either does
	queueGone   time.Time     // when neither did any more
	pastBand    time.Time     // since when acked has been past the band (and over the capacity since) with no queue (zero: not)

	ackFirst, ackLast time.Duration // arrivals (receiver's clock) of the open acknowledged-rate window
	ackOpen           bool          // a window has its first arrival
	ackBytes          int           // bytes that arrived in it after its first packet
	acked             int           // bits/s acknowledged over the last full window (0: unknown)
	ackLimit          int           // the estimate's ceiling from acked (see the file comment)
}

// delayFloor is the lowest delay of this and the previous minRTTWindow.
type delayFloor [2]struct {
	start time.Time
	d     time.Duration
}

// add takes a delay and returns the floor, d included.
func (f *delayFloor) add(d time.Duration, now time.Time) time.Duration {
	if f[0].start.IsZero() || now.Sub(f[0].start) >= minRTTWindow {
		f[1] = f[0]
		f[0].start, f[0].d = now, d
	}
	f[0].d = min(f[0].d, d)
	if f[1].start.IsZero() {
		return f[0].d
	}
	return min(f[0].d, f[1].d)
}

func newEstimator(start, lo, hi int, kinds streamKinds) (*estimator, error) {
	p := newPacer(start, kinds)
	p.external = true
	bwe, err := gcc.NewSendSideBWE(
		gcc.SendSideBWEPacer(p),
		gcc.SendSideBWEInitialBitrate(start),
		gcc.SendSideBWEMinBitrate(lo),
		gcc.SendSideBWEMaxBitrate(hi),
	)
	if err != nil {
		_ = p.Close()
		return nil, err
	}
	e := &estimator{SendSideBWE: bwe, pacer: p, min: lo, max: hi, lossTarget: hi, queueTarget: hi,
		queueCap: hi, ackLimit: hi, owdBase: time.Now()}
	e.gccDelay = e.gccDelayTarget
	return e, nil
}

// WriteRTCP feeds gcc and counts TWCC losses.
func (e *estimator) WriteRTCP(pkts []rtcp.Packet, attr interceptor.Attributes) error {
	now := time.Now()
	for _, p := range pkts {
		var reports []rtcp.ReceptionReport
		switch p := p.(type) {
		case *rtcp.TransportLayerCC:
			got, lost := twccCounts(p)
			e.addLoss(got, lost, now)
			e.addFeedbackDelay(p, now)
		case *rtcp.ReceiverReport:
			reports = p.Reports
		case *rtcp.SenderReport:
			reports = p.Reports
		}
		for _, r := range reports {
			if rtt, ok := reportRTT(r, now); ok {
				e.addRTT(rtt, now)
			}
		}
	}
	err := e.SendSideBWE.WriteRTCP(pkts, attr)
	st := e.SendSideBWE.GetStats()
	e.updateRamp(now, e.delayTarget(), st["usage"] == "overuse" || st["state"] == "decrease")
	e.pacer.setRate(e.GetTargetBitrate())
	return err
}

// updateRamp moves the ramp after a feedback: d is gcc's delay-based
// target, overuse whether gcc sees congestion now.
func (e *estimator) updateRamp(now time.Time, d int, overuse bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	defer e.updateAckLimit(d)
	if overuse || (e.lastDelay > 0 && d < e.lastDelay) || e.lossSignal(e.lastLoss) || e.queued {
		if now.Sub(e.lastSignal) >= quietAfter || !e.congested { // the first signal of a congestion
			e.capacity = max(e.ramp, e.lastDelay, d)
		}
		e.ramp, e.congested, e.lastSignal = 0, true, now
	}
	e.lastDelay = d
	dt := min(now.Sub(e.lastGrow), maxGrowStep)
	if e.lastGrow.IsZero() {
		dt = 0
	}
	e.lastGrow = now
	g := startGrowth
	base := max(e.ramp, d)
	if e.congested {
		if now.Sub(e.lastSignal) < quietAfter || float64(min(base, e.queueTarget, e.lossTarget)) < capacityMargin*float64(e.capacity) {
			return
		}
		g = quietGrowth
	}
	e.ramp = min(int(float64(base)*(1+g*dt.Seconds())), e.max)
}

// updateAckLimit moves the estimate's ceiling after a feedback (d is
// gcc's delay-based target): the estimate may rise to ackHeadroom × the
// acknowledged rate + ackSlack, no further; one already above that is not
// cut. Callers hold mu.
func (e *estimator) updateAckLimit(d int) {
	if e.acked == 0 {
		return
	}
	raw := min(max(d, e.ramp), e.lossTarget, e.queueTarget)
	e.ackLimit = max(min(raw, e.ackLimit), int(ackHeadroom*float64(e.acked))+ackSlack)
}

func (e *estimator) addLoss(got, lost int, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.windowStart.IsZero() {
		e.windowStart = now
	}
	e.got += got
	e.lost += lost
	n := e.got + e.lost
	if now.Sub(e.windowStart) < lossWindow || n < lossPackets {
		return
	}
	loss := float64(e.lost) / float64(n)
	e.lastLoss = loss
	switch {
	case loss > lossDecrease:
		e.lossTarget = max(int(float64(min(e.lossTarget, e.delayTarget()))*(1-0.5*loss)), e.min)
	case !e.lossSignal(loss):
		e.lossTarget = min(int(float64(e.lossTarget)*lossGrowth), e.max)
	}
	e.baseLoss += baseLossWeight * (min(loss, lossDecrease) - e.baseLoss)
	e.windowStart, e.got, e.lost = now, 0, 0
}

// lossSignal reports whether a window's loss is congestion: over
// lossDecrease, or more than lossIncrease above the link's usual loss.
// Callers hold mu.
func (e *estimator) lossSignal(loss float64) bool {
	return loss > lossDecrease || loss >= e.baseLoss+lossIncrease
}

// reportRTT is the round trip a reception report shows (RFC 3550 6.4.1:
// now − LSR − DLSR, in 1/65536 s); false when the report has no sender
// report to refer to or the result is not plausible.
func reportRTT(r rtcp.ReceptionReport, now time.Time) (time.Duration, bool) {
	if r.LastSenderReport == 0 {
		return 0, false
	}
	mid := uint32(toNTP(now) >> 16)
	units := mid - r.LastSenderReport - r.Delay // modular: the clock wraps
	rtt := time.Duration(uint64(units) * uint64(time.Second) >> 16)
	if units > 10<<16 { // negative or over 10 s: a bogus report
		return 0, false
	}
	return rtt, true
}

// addRTT takes a round trip from a receiver report.
func (e *estimator) addRTT(rtt time.Duration, now time.Time) {
	target := e.GetTargetBitrate()
	e.mu.Lock()
	defer e.mu.Unlock()
	floor := e.minRTT.add(rtt, now)
	e.lastRTT = rtt
	if now.Sub(e.owdAt) < owdStale {
		e.queuedRTT = false
		return
	}
	e.queueSample(&e.queuedRTT, rtt-floor, queueDelayLimit, target, now)
}

// addFeedbackDelay takes the one-way delays of a TWCC feedback: the
// lowest of them against its floor.
func (e *estimator) addFeedbackDelay(fb *rtcp.TransportLayerCC, now time.Time) {
	var owd, first, last time.Duration
	n, bytes, firstSize := 0, 0, 0
	twccArrivals(fb, func(twseq uint16, arrival time.Duration) {
		sent, size, ok := e.pacer.sent.sentAt(twseq)
		if !ok {
			return
		}
		d := arrival - sent.Sub(e.owdBase)
		if n == 0 {
			owd, first, last = d, arrival, arrival
		}
		if arrival < first || n == 0 {
			firstSize = size
		}
		owd, first, last = min(owd, d), min(first, arrival), max(last, arrival)
		bytes += size
		n++
		e.ackArrival(arrival, size)
	})
	if n == 0 {
		return
	}
	target := e.GetTargetBitrate()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rcvRate = 0
	if span := last - first; span >= minRateSpan { // the first packet's bytes arrived before the span
		e.rcvRate = int(float64((bytes-firstSize)*8) / span.Seconds())
	}
	if f := e.minOWD[0]; !f.start.IsZero() && (owd-f.d > maxDelayJump || f.d-owd > maxDelayJump) {
		e.minOWD = delayFloor{} // the receiver's clock was reset (or wrapped)
	}
	e.lastQueue = owd - e.minOWD.add(owd, now)
	e.owdAt = now
	e.queueSample(&e.queuedOWD, e.lastQueue, owdQueueLimit, target, now)
}

// ackArrival counts one packet a feedback reports arrived into the
// acknowledged rate: windows of at least ackWindow of arrivals, each
// packet's bytes counted after the window's first arrival.
func (e *estimator) ackArrival(at time.Duration, size int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.ackOpen || at-e.ackFirst > maxDelayJump || at < e.ackFirst-maxDelayJump { // first, or the clock was reset
		e.ackFirst, e.ackLast, e.ackBytes, e.ackOpen = at, at, 0, true
		return
	}
	e.ackBytes += size
	e.ackLast = max(e.ackLast, at)
	if span := e.ackLast - e.ackFirst; span >= ackWindow {
		e.acked = int(float64(e.ackBytes*8) / span.Seconds())
		e.ackFirst, e.ackBytes = e.ackLast, 0
	}
}

// queueSample moves the queue-based target on one measurement: delay
// the queue's (over the floor), a queue past limit; flag the source's own
// (queuedRTT, queuedOWD); target the current estimate. Callers hold mu.
func (e *estimator) queueSample(flag *bool, delay, limit time.Duration, target int, now time.Time) {
	was := e.queued
	*flag = delay > limit
	e.queued = e.queuedRTT || e.queuedOWD
	if was && !e.queued {
		e.queueGone = now
	}
	if e.queued {
		if !was {
			e.queueCap = min(target, e.queueTarget)
			if e.queuedOWD && e.rcvRate > 0 {
				e.queueCap = e.rcvRate
			}
		}
		if !was || (now.Sub(e.queueCut) >= queueCutEvery && delay >= e.queueAtCut) {
			e.queueTarget = max(int(queueBackoff*float64(min(target, e.queueTarget))), e.min)
			e.queueCut, e.queueAtCut = now, delay
		}
		e.queueGrow, e.pastBand = now, time.Time{}
		return
	}
	top := capacityMargin * float64(e.queueCap)
	switch {
	case e.acked < e.queueCap: // a dip under the band's top is a window's noise; under the capacity is not
		e.pastBand = time.Time{}
	case e.pastBand.IsZero() && float64(e.acked) >= top:
		e.pastBand = now
	}
	g := queueGrowth
	if now.Sub(e.queueGone) >= queueQuietAfter {
		switch {
		case float64(e.queueTarget) < queueBackoff*float64(e.queueCap): // cut more than once
			g = quietGrowth
		case float64(e.queueTarget) < top: // in the band
		case e.acked == 0: // only the round trip: no acknowledged rate to wait for
			g = quietGrowth
		case !e.pastBand.IsZero() && now.Sub(e.pastBand) >= bandDwell:
			g = aboveGrowth
		}
	}
	dt := min(now.Sub(e.queueGrow), 2*time.Second)
	e.queueGrow = now
	if e.queueTarget > target { // another part holds the estimate under it: untested, it waits
		return
	}
	grown := int(float64(e.queueTarget) * (1 + g*dt.Seconds()))
	e.queueTarget = min(grown, max(e.queueTarget, e.ackLimit), e.max)
}

// delayTarget is gcc's delay-based target.
func (e *estimator) delayTarget() int { return e.gccDelay() }

func (e *estimator) gccDelayTarget() int {
	if v, ok := e.SendSideBWE.GetStats()["delayTargetBitrate"].(int); ok && v > 0 {
		return v
	}
	return e.SendSideBWE.GetTargetBitrate()
}

// GetTargetBitrate is min(max(delay-based, ramp), our loss-based,
// queue-based, ackLimit), at least the floor.
func (e *estimator) GetTargetBitrate() int {
	d := e.delayTarget()
	e.mu.Lock()
	defer e.mu.Unlock()
	return max(min(max(d, e.ramp), e.lossTarget, e.queueTarget, e.ackLimit), e.min)
}

// debugState is the estimator's own state, for the debug log.
func (e *estimator) debugState() string {
	sr := e.pacer.sent.sentRates(time.Now(), time.Second)
	sent := sr[classVideo] + sr[classRTX] + sr[classAudio]
	qb, qd := e.pacer.backlog()
	e.mu.Lock()
	defer e.mu.Unlock()
	return fmt.Sprintf("loss_target=%d loss=%.3f base_loss=%.3f ramp=%d congested=%v queue_target=%d rtt=%v queue_delay=%v queued=%v queue_cap=%d received=%d acked=%d ack_limit=%d past_band=%v sent=%d sent_rtx=%d sent_audio=%d pacer_queue=%d pacer_queue_ms=%d",
		e.lossTarget, e.lastLoss, e.baseLoss, e.ramp, e.congested, e.queueTarget, e.lastRTT, e.lastQueue, e.queued, e.queueCap, e.rcvRate,
		e.acked, e.ackLimit, !e.pastBand.IsZero(), sent, sr[classRTX], sr[classAudio], qb, qd.Milliseconds())
}

// steadyLoss reports whether the link loses packets at random, not from
// congestion: its usual loss is at least steadyLossMin, the last loss
// window was no congestion signal, and the round trip shows no queue.
// Behind a full bottleneck queue it is false (the loss comes with a
// standing queue or above the usual loss), so the NACK responder does not
// send more into the queue.
func (e *estimator) steadyLoss() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.baseLoss >= steadyLossMin && !e.queued && !e.lossSignal(e.lastLoss)
}

// loss returns the loss fraction of the last full window.
func (e *estimator) loss() float64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastLoss
}

// twccCounts returns how many packets a TWCC report says arrived and were
// lost (twccStatus walks the report).
func twccCounts(fb *rtcp.TransportLayerCC) (got, lost int) {
	twccStatus(fb, func(_ uint16, received bool) {
		if received {
			got++
		} else {
			lost++
		}
	})
	return got, lost
}
