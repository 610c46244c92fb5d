package peer

import (
	"errors"
	"fmt"

	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/signal/proto"
)

// negotiation is the perfect-negotiation state of one connection. Only the
// remote's loop goroutine touches it. Because the loop runs one operation
// at a time, "makingOffer" of the W3C pattern is never observed true by an
// incoming offer; a collision shows up as a non-stable signalling state.
type negotiation struct {
	ignoreOffer bool
	// wantOffer: an explicit renegotiation (Renegotiate) is pending until
	// one of our offers is answered; it survives a polite rollback.
	wantOffer bool
	// localAdded: our tracks and chat channel are on the connection.
	localAdded bool
	// restartWanted: an ICE restart waits for the next offer (we were not
	// stable, or the polite side rolled its restart offer back).
	restartWanted bool
	// offerRestarts: our pending local offer is an ICE restart.
	offerRestarts bool
	// deferred: the non-offering side held an offer back while the
	// connection was not connected; it is made once connected.
	// The offerer's ICE-restart offer is on its way then, and an offer
	// of ours would only collide with it.
	deferred bool
	// pending holds remote candidates received before a remote description.
	pending []webrtc.ICECandidateInit
}

// handleSignal applies one signalling message and reports whether the
// connection was handed over to a new one (see handOff); the loop ends then.
func (r *remote) handleSignal(m proto.Message) (handedOff bool) {
	var err error
	switch m.Type {
	case proto.TypeOffer:
		if r.needsNewConnection(m.SDP) && r.p.handOff(r, m) {
			return true
		}
		err = r.onOffer(m.SDP)
	case proto.TypeAnswer:
		err = r.onAnswer(m.SDP)
	case proto.TypeCandidate:
		err = r.onCandidate(m.Candidate)
	}
	if err != nil {
		r.log.Warn("negotiation", "type", m.Type, "err", err)
		r.p.emit(Event{Kind: EventError, Peer: r.info, Err: err})
	}
	return false
}

// makeOffer creates and sends an offer if the connection is stable, with
// an ICE restart when one is wanted. The non-offering side defers its
// offers while the media path is down (see negotiation.deferred).
func (r *remote) makeOffer() {
	if r.pc.SignalingState() != webrtc.SignalingStateStable {
		return // re-attempted when we are back to stable
	}
	if r.offerMustWait() {
		r.log.Debug("offer deferred until the offerer's ICE restart")
		r.neg.deferred = true
		return
	}
	restart := r.neg.restartWanted
	r.cands.close()
	defer r.cands.open(r.p.send)
	offer, err := r.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
	if err == nil {
		err = r.pc.SetLocalDescription(offer)
	}
	if err != nil {
		r.log.Warn("make offer", "ice_restart", restart, "err", err)
		return // a wanted restart stays wanted; the retry timer re-attempts
	}
	r.neg.restartWanted = false
	r.neg.offerRestarts = restart
	r.p.send(proto.Message{Type: proto.TypeOffer, To: r.info.ID, SDP: r.pc.LocalDescription().SDP})
	r.watchFirstOffer()
}

// onOffer applies a remote offer following the perfect-negotiation
// pattern: the impolite side ignores a colliding offer; the polite side
// rolls its own offer back (pion has no implicit rollback) and answers.
func (r *remote) onOffer(sdp string) error {
	collision := r.pc.SignalingState() != webrtc.SignalingStateStable
	r.neg.ignoreOffer = !r.polite && collision
	if collision {
		r.glare.Add(1)
	}
	if r.neg.ignoreOffer {
		r.log.Debug("ignoring colliding offer (impolite)")
		return nil
	}
	r.cands.close()
	defer r.cands.open(r.p.send)
	if collision {
		r.log.Debug("offer collision, rolling back (polite)", "ice_restart", r.neg.offerRestarts)
		if err := r.rollback(); err != nil {
			return err
		}
	}
	if err := r.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return fmt.Errorf("set remote offer: %w", err)
	}
	r.flushCandidates()
	if !r.neg.localAdded {
		// Newcomer: add media after the offer so that our tracks take the
		// offered transceivers instead of asking for a second round.
		if err := r.addLocal(); err != nil {
			return err
		}
	}
	answer, err := r.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("create answer: %w", err)
	}
	if err := r.pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("set local answer: %w", err)
	}
	r.p.send(proto.Message{Type: proto.TypeAnswer, To: r.info.ID, SDP: r.pc.LocalDescription().SDP})
	r.rounds.Add(1)
	r.noteRemoteUfrag()
	r.afterStable()
	return nil
}

func (r *remote) onAnswer(sdp string) error {
	if r.pc.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
		r.log.Debug("ignoring answer in state", "state", r.pc.SignalingState().String())
		return nil
	}
	if err := r.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return fmt.Errorf("set remote answer: %w", err)
	}
	r.resend.stop()
	r.neg.wantOffer = false
	r.neg.offerRestarts = false
	r.rounds.Add(1)
	r.flushCandidates()
	r.noteRemoteUfrag()
	r.afterStable()
	return nil
}

// afterStable re-offers when an explicit renegotiation or an ICE restart
// is still pending (e.g. the polite side rolled its offer back).
func (r *remote) afterStable() {
	if r.neg.wantOffer || r.neg.restartWanted {
		r.makeOffer()
	}
}

func (r *remote) onCandidate(c *proto.ICECandidate) error {
	if c == nil || c.Candidate == "" {
		return nil // end-of-candidates: nothing to do for pion
	}
	init := webrtc.ICECandidateInit{
		Candidate:        c.Candidate,
		SDPMid:           c.SDPMid,
		SDPMLineIndex:    c.SDPMLineIndex,
		UsernameFragment: c.UsernameFragment,
	}
	if r.pc.RemoteDescription() == nil {
		r.neg.pending = append(r.neg.pending, init)
		return nil
	}
	if err := r.pc.AddICECandidate(init); err != nil && !r.neg.ignoreOffer {
		return fmt.Errorf("add candidate: %w", err)
	}
	return nil
}

func (r *remote) flushCandidates() {
	for _, c := range r.neg.pending {
		if err := r.pc.AddICECandidate(c); err != nil {
			r.log.Debug("add queued candidate", "err", err)
		}
	}
	r.neg.pending = nil
}

// rollback returns a have-local-offer connection to stable. pion has no
// working rollback (pion/webrtc#2133, #2416: the signalling state machine
// refuses have-local-offer → rollback), so the polite side emulates it by
// answering its own pending offer with the remote description currently in
// force: the same ICE credentials, fingerprint and media sections, so the
// connection is unchanged. Whatever our offer wanted to add is still
// pending afterwards and pion's negotiationneeded fires again once stable.
// On the very first negotiation there is nothing to fall back to; the
// offer rules (existing peers offer, newcomers answer) keep that from
// colliding.
//
// An ICE-restart offer cannot be undone this way: pion restarted the ICE
// agent in CreateOffer, so our new credentials stay and go out in the
// answer, while the other side's agent, which ignored our offer, is not
// restarted. The restart is therefore wanted again and re-offered as soon
// as we are stable, exactly as a browser keeps restartIce() pending across
// a rollback; that offer changes the credentials again and restarts both
// agents. Only the offerer restarts ICE, and the other side holds its own
// offers while the path is down, so this collision is rare.
func (r *remote) rollback() error {
	current := r.pc.CurrentRemoteDescription()
	if current == nil {
		return errors.New("rollback: offer collision before the first negotiation completed")
	}
	if err := r.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: current.SDP}); err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	if r.neg.offerRestarts {
		r.neg.offerRestarts = false
		r.neg.restartWanted = true
	}
	return nil
}
