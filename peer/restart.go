package peer

import (
	"fmt"
	"strings"
	"time"
)

const (
	// DefaultICERestartAfter is how long a connection may stay
	// disconnected before the offering side restarts ICE (issue 5 item 5).
	DefaultICERestartAfter = 5 * time.Second
	// maxRestartBackoff caps the wait between two failed restart attempts.
	maxRestartBackoff = time.Minute
)

// Reasons carried in Event.State by EventICERestart.
const (
	restartFailed       = "failed"
	restartDisconnected = "disconnected"
	restartRetry        = "retry"
	restartManual       = "manual"
)

// iceRestart is the automatic ICE-restart timer of one connection, part of
// its negotiator (negotiator.go). Only the negotiator's loop touches it.
//
// Only the side that made the first offer (the existing peer, which created
// the connection on peer-joined) restarts, like the browser client: on
// "failed" at once, on "disconnected" once it lasted Config.ICERestartAfter.
// Each restart arms a retry, after ICERestartAfter, then twice as long each
// time (capped at a minute), until the connection is connected again or
// closes. The other side never restarts; it answers the restart offer,
// which changes the remote ICE credentials and so restarts its agent too.
type iceRestart struct {
	timer   *time.Timer // pending restart or retry; nil when none
	reason  string      // why the timer was armed
	attempt int         // restarts since the connection was last connected
}

// timerC returns the pending timer's channel, or nil (blocks forever).
func (s *iceRestart) timerC() <-chan time.Time {
	if s.timer == nil {
		return nil
	}
	return s.timer.C
}

func (s *iceRestart) schedule(after time.Duration, reason string) {
	s.stop()
	s.timer = time.NewTimer(after)
	s.reason = reason
}

func (s *iceRestart) stop() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
}

// restartBackoff is the wait after the attempt-th restart (1-based) before
// the next one: base, 2·base, 4·base, … capped at maxRestartBackoff (or at
// base when base is larger).
func restartBackoff(base time.Duration, attempt int) time.Duration {
	limit := max(maxRestartBackoff, base)
	d := base
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// iceUfrag returns the first a=ice-ufrag value of an SDP ("" if none).
func iceUfrag(sdp string) string {
	for line := range strings.Lines(sdp) {
		if v, ok := strings.CutPrefix(line, "a=ice-ufrag:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// RestartICE makes the connection to peer id restart ICE now, as the
// automatic restart does. Only the side that made the first offer restarts
// ICE; on the other side it returns ErrNotOfferer.
func (p *Peer) RestartICE(id string) error {
	p.mu.Lock()
	r := p.remotes[id]
	p.mu.Unlock()
	if r == nil {
		return fmt.Errorf("restart ICE: no connection to peer %q", id)
	}
	if !r.neg.offerer {
		return fmt.Errorf("restart ICE with %q: %w", id, ErrNotOfferer)
	}
	post(r.neg.restart)
	return nil
}
