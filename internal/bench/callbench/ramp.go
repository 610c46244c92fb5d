package callbench

// ramp.go: waiting for congestion control before a window opens.
//
// A native sender starts every link at gcc's initial estimate and raises
// it on the receiver's feedback (peer/links.go), so the first seconds of a
// link carry less than the bitrate asked for. A window measures the
// steady state only once every link of every native sender is near the
// ceiling (read from --stats-json estimate_bitrate), not after a guessed
// sleep. On a machine so loaded that gcc reads scheduling delay as
// queueing a link may stay lower: after the deadline the window is
// measured anyway and marked not ramped.

import (
	"context"
	"log/slog"
	"slices"
	"time"
)

// rampFraction of the ceiling is "near the ceiling" for a link estimate:
// gcc hovers a few percent under its maximum.
const rampFraction = 0.9

// defaultRamp is the default deadline of awaitRamp.
const defaultRamp = 60 * time.Second

// rampResult says whether and when the links ramped up.
type rampResult struct {
	Ramped  bool
	Seconds float64 // time waited (the deadline when not ramped)
}

// awaitRamp waits until each native side in sides shows at least links
// link estimates, all at least rampFraction of ceiling, or limit passes.
// Chromium sides are not waited for (their estimate is not read).
func awaitRamp(ctx context.Context, log *slog.Logger, sides []endpoint, links, ceiling int, limit time.Duration) (rampResult, error) {
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	res := rampResult{Ramped: true}
	for _, s := range sides {
		n, ok := s.(*nativeSide)
		if !ok {
			continue
		}
		err := n.c.waitStats(rctx, "every link's estimate near the ceiling", func(c counters) bool { return rampedUp(c, links, ceiling) })
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return rampResult{}, ctx.Err()
		case rctx.Err() != nil:
			c, _ := n.c.counters()
			log.Warn("links did not ramp up; measuring anyway", "side", n.name, "estimates", c.Estimates, "ceiling", ceiling, "after", limit)
			res.Ramped = false
		default:
			return rampResult{}, err
		}
	}
	res.Seconds = round(time.Since(start).Seconds(), 1)
	return res, nil
}

// rampedUp says a sender's stats line shows n links whose estimates are
// all at least rampFraction of ceiling.
func rampedUp(c counters, n, ceiling int) bool {
	if len(c.Estimates) < n {
		return false
	}
	for _, e := range c.Estimates {
		if float64(e) < rampFraction*float64(ceiling) {
			return false
		}
	}
	return true
}

// minEstimateKbps is the lowest link estimate of a native side's latest
// stats line, kbit/s.
func minEstimateKbps(s *nativeSide) float64 {
	c, _ := s.c.counters()
	if len(c.Estimates) == 0 {
		return 0
	}
	return float64(slices.Min(c.Estimates)) / 1000
}
