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
// The estimate is min(delay-based, loss-based); the pacer follows it.

import (
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
)

// estimator implements cc.BandwidthEstimator around gcc.SendSideBWE.
type estimator struct {
	*gcc.SendSideBWE
	pacer    *pacer
	min, max int

	mu          sync.Mutex
	lossTarget  int
	windowStart time.Time
	got, lost   int
	lastLoss    float64
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
	return &estimator{SendSideBWE: bwe, pacer: p, min: lo, max: hi, lossTarget: hi}, nil
}

// WriteRTCP feeds gcc and counts TWCC losses.
func (e *estimator) WriteRTCP(pkts []rtcp.Packet, attr interceptor.Attributes) error {
	for _, p := range pkts {
		if fb, ok := p.(*rtcp.TransportLayerCC); ok {
			got, lost := twccCounts(fb)
			e.addLoss(got, lost, time.Now())
		}
	}
	err := e.SendSideBWE.WriteRTCP(pkts, attr)
	e.pacer.setRate(e.GetTargetBitrate())
	return err
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
	case loss < lossIncrease:
		e.lossTarget = min(int(float64(e.lossTarget)*lossGrowth), e.max)
	case loss > lossDecrease:
		e.lossTarget = max(int(float64(min(e.lossTarget, e.delayTarget()))*(1-0.5*loss)), e.min)
	}
	e.windowStart, e.got, e.lost = now, 0, 0
}

// delayTarget is gcc's delay-based target.
func (e *estimator) delayTarget() int {
	if v, ok := e.SendSideBWE.GetStats()["delayTargetBitrate"].(int); ok && v > 0 {
		return v
	}
	return e.SendSideBWE.GetTargetBitrate()
}

// GetTargetBitrate is min(delay-based, our loss-based).
func (e *estimator) GetTargetBitrate() int {
	d := e.delayTarget()
	e.mu.Lock()
	defer e.mu.Unlock()
	return max(min(d, e.lossTarget), e.min)
}

// loss returns the loss fraction of the last full window.
func (e *estimator) loss() float64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastLoss
}

// twccCounts returns how many packets a TWCC report says arrived and were
// lost.
func twccCounts(fb *rtcp.TransportLayerCC) (got, lost int) {
	left := int(fb.PacketStatusCount)
	add := func(sym uint16, n int) {
		n = min(n, left)
		left -= n
		if sym == rtcp.TypeTCCPacketNotReceived {
			lost += n
		} else {
			got += n
		}
	}
	for _, c := range fb.PacketChunks {
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			add(c.PacketStatusSymbol, int(c.RunLength))
		case *rtcp.StatusVectorChunk:
			for _, s := range c.SymbolList {
				add(s, 1)
			}
		}
	}
	return got, lost
}
