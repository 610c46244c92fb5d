package peer

import "time"

// A connection's first offer can be lost: the other side may replace the
// connection that received it (handOff, or a rebuild after a signalling
// outage) before answering, and then offer to us from its new connection.
// If we are the impolite side we ignore that colliding offer, as perfect
// negotiation says, and both sides would wait for an answer forever. So
// the first offer, until a remote description arrives, is sent again after
// firstOfferResend, then after twice as long each time (at most
// maxOfferResend). A copy that arrives after all is harmless: an answer in
// the stable state is ignored.
const (
	firstOfferResend = 3 * time.Second
	maxOfferResend   = 30 * time.Second
)

// offerResend is the resend timer of a first offer (the negotiator's
// FirstOffer state). Loop goroutine only.
type offerResend struct {
	timer *time.Timer
	wait  time.Duration
}

// C returns the timer's channel, or nil (never ready) when not armed.
func (o *offerResend) C() <-chan time.Time {
	if o.timer == nil {
		return nil
	}
	return o.timer.C
}

// arm (re)starts the timer with the next wait.
func (o *offerResend) arm() {
	o.wait = min(max(2*o.wait, firstOfferResend), maxOfferResend)
	if o.timer == nil {
		o.timer = time.NewTimer(o.wait)
		return
	}
	o.timer.Reset(o.wait)
}

// stop disarms the timer.
func (o *offerResend) stop() {
	if o.timer != nil {
		o.timer.Stop()
		o.timer = nil
	}
	o.wait = 0
}
