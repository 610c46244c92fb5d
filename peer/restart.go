package peer

import (
	"fmt"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/signal/proto"
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

// iceRestart is the automatic ICE-restart state of one connection. Only the
// remote's loop goroutine touches it.
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

// restarts reports whether this side restarts ICE on this connection.
func (r *remote) restarts() bool {
	return r.offerer && r.p.cfg.ICERestartAfter > 0
}

// onConnState reacts to a PeerConnection state change on the loop.
func (r *remote) onConnState() {
	switch r.pc.ConnectionState() {
	case webrtc.PeerConnectionStateConnected:
		r.ice.stop()
		r.ice.attempt = 0
		if r.neg.deferred {
			r.neg.deferred = false
			r.makeOffer()
		}
	case webrtc.PeerConnectionStateDisconnected:
		if r.restarts() && r.ice.timer == nil {
			r.ice.schedule(r.p.cfg.ICERestartAfter, restartDisconnected)
		}
	case webrtc.PeerConnectionStateFailed:
		// Restart at once unless a restart is already under way: its retry
		// timer decides when to try again.
		if r.restarts() && r.ice.attempt == 0 {
			r.startRestart(restartFailed)
		}
	}
}

// onRestartTimer fires a scheduled restart or retry.
func (r *remote) onRestartTimer() {
	r.ice.timer = nil
	r.startRestart(r.ice.reason)
}

// startRestart sends an ICE-restart offer (now, or as soon as the
// connection is stable) and, when automatic restarts are on, arms the retry.
func (r *remote) startRestart(reason string) {
	r.ice.attempt++
	if r.restarts() {
		r.ice.schedule(restartBackoff(r.p.cfg.ICERestartAfter, r.ice.attempt), restartRetry)
	}
	r.restartsSent.Add(1)
	r.log.Info("restarting ICE", "reason", reason, "attempt", r.ice.attempt)
	r.p.emit(Event{Kind: EventICERestart, Peer: r.info, State: reason})
	if r.neg.offerRestarts && r.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
		r.resendOffer()
		return
	}
	r.neg.restartWanted = true
	r.makeOffer()
}

// resendOffer sends our pending offer (a restart offer, or the first one,
// see offerresend.go) again: it or its answer was lost (the signalling
// server drops messages over its rate limit, or the other side replaced the
// connection that got it), and a new offer cannot be made before we are
// stable. The other side answers a repeated offer like any offer.
func (r *remote) resendOffer() {
	if desc := r.pc.LocalDescription(); desc != nil {
		r.log.Info("offer still unanswered, sending it again")
		r.p.send(proto.Message{Type: proto.TypeOffer, To: r.info.ID, SDP: desc.SDP})
	}
}

// offerMustWait reports whether the non-offering side must hold its own
// offers back (see negotiation.deferred): while the connection is down or
// (re)connecting, an ICE restart from the offerer is pending or under way.
func (r *remote) offerMustWait() bool {
	switch r.pc.ConnectionState() {
	case webrtc.PeerConnectionStateDisconnected, webrtc.PeerConnectionStateFailed,
		webrtc.PeerConnectionStateConnecting:
		return !r.offerer
	}
	return false
}

// noteRemoteUfrag records the remote ICE username fragment after a
// completed negotiation and counts a change as a completed ICE restart.
func (r *remote) noteRemoteUfrag() {
	desc := r.pc.CurrentRemoteDescription()
	if desc == nil {
		return
	}
	ufrag := iceUfrag(desc.SDP)
	prev, _ := r.remoteUfrag.Load().(string)
	if ufrag == prev {
		return
	}
	r.remoteUfrag.Store(ufrag)
	if prev != "" {
		r.restartsDone.Add(1)
		r.log.Info("ICE restarted", "remote_ufrag", ufrag)
	}
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
	if !r.offerer {
		return fmt.Errorf("restart ICE with %q: %w", id, ErrNotOfferer)
	}
	select {
	case r.restart <- struct{}{}:
	default:
	}
	return nil
}
