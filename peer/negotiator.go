package peer

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/signal/proto"
)

// inboxSize bounds the signalling messages waiting for one negotiator.
const inboxSize = 256

// negotiator is the whole offer/answer/restart/resend state of our
// connection to one remote peer, and the only code that changes it. It is
// perfect negotiation (W3C WebRTC §10.7) adapted to pion, plus the three
// timers that repair what perfect negotiation assumes cannot happen: a
// lost first offer, a lost answer, a dead media path.
//
// Every event arrives on one of the channels below and is handled on the
// negotiator's loop (run), one at a time, the way a browser's event loop
// runs its handlers: nothing here is touched from another goroutine except
// the counters (atomic) and the channels. Because an operation never
// overlaps another, "makingOffer" of the W3C pattern is never observed true
// by an incoming offer; a collision shows up as a non-stable signalling
// state.
//
// # State
//
// The signalling state is pion's (sdpConn.SignalingState, the truth about
// which description is pending); the negotiator adds what pion does not
// know, and names the combination:
//
//	Stable       stable, no offer owed
//	Owed         stable, an offer is owed (wantOffer or restartWanted):
//	             only seen after CreateOffer failed; NegNeeded, Renegotiate,
//	             RestartTimer or the next completed exchange retries
//	Deferred     stable, the non-offering side holds its offer back while
//	             the media path is down (the offerer's ICE restart is due)
//	FirstOffer   have-local-offer, no remote description yet: the resend
//	             timer is armed (firstOfferResend, doubling to maxOfferResend)
//	Offer        have-local-offer, a renegotiation
//	RestartOffer have-local-offer, an ICE restart (offerRestarts)
//	Answering    have-remote-offer: only seen when applying an offer failed
//
// Orthogonal to these, on the offering side only: the ICE-restart timer
// (idle, or armed with a reason and the attempt count, see iceRestart).
//
// # Events
//
//	NegNeeded    pion's negotiationneeded (our media changed)
//	Renegotiate  Peer.Renegotiate: an explicit offer (sets wantOffer)
//	Offer        a remote offer          Answer  a remote answer
//	Candidate    a remote candidate (queued until a remote description)
//	Connected, Disconnected, Failed      connection state changes
//	RestartICE   Peer.RestartICE         RestartTimer  the restart timer
//	ResendTimer  the first-offer timer   SignallingBack  signalling resumed
//
// # Transitions
//
// "offer" below is makeOffer: CreateOffer (with ICE restart when
// restartWanted), SetLocalDescription, send; it goes to FirstOffer, Offer
// or RestartOffer. "answer" is SetRemoteDescription, CreateAnswer,
// SetLocalDescription, send. Every return to stable re-offers what is
// owed (afterStable).
//
//	state          event                      action → next state
//	Stable/Owed    NegNeeded, Renegotiate     offer → *Offer; non-offerer with the
//	                                          path down → Deferred
//	Stable         Offer (same fingerprint)   answer → Stable
//	any            Offer (new fingerprint)    handOff: a fresh connection answers → end
//	Stable         Answer                     ignored
//	*Offer         Answer                     apply, stop resend, wantOffer=false → Stable
//	*Offer         Offer, impolite            glare: ignored → unchanged
//	FirstOffer     Offer, polite              glare: handOff (pion cannot roll a first
//	                                          offer back) → end
//	Offer          Offer, polite              glare: rollback, answer → Stable → offer
//	                                          what is still owed
//	RestartOffer   Offer, polite              glare: rollback (restartWanted=true),
//	                                          answer → Stable → offer restart → RestartOffer
//	*Offer         NegNeeded, Renegotiate     owed (Renegotiate: wantOffer) → unchanged
//	FirstOffer     ResendTimer                send the same offer again, timer ×2 → FirstOffer
//	other          ResendTimer                stop the timer
//	Stable/Offer   RestartICE, RestartTimer   restartWanted: offer now (Stable) or after
//	                                          the answer (Offer) → RestartOffer
//	RestartOffer   RestartICE, RestartTimer   send the same restart offer again
//	                                          (both: attempt+1, arm the retry timer when
//	                                          automatic restarts are on)
//	any            Disconnected (offerer)     arm restart timer (ICERestartAfter) if idle
//	any            Failed (offerer)           RestartICE now unless a restart is under way
//	any            Connected                  restart timer idle, attempt=0; Deferred → offer
//	*Offer         SignallingBack             send the same offer again (its answer may
//	                                          be lost) → unchanged
//	any            Candidate                  add, or queue before a remote description
//
// Only the offerer (the side that made the first offer) restarts ICE; the
// other side answers the restart offer, which restarts its agent too.
type negotiator struct {
	pc      sdpConn
	log     *slog.Logger
	to      string // the remote's id, the To of what we send
	polite  bool
	offerer bool
	// restartAfter: Config.ICERestartAfter; ≤ 0 switches automatic
	// restarts off.
	restartAfter time.Duration
	send         func(proto.Message)
	emit         func(Event)                    // Peer is filled in by the caller
	addLocal     func() error                   // our tracks and chat channel
	handOff      func(offer proto.Message) bool // see handoff.go
	cands        *candidateGate                 // holds our candidates behind a description

	// Events (run reads them). The capacity-1 channels coalesce: a
	// second signal while one is pending adds nothing.
	inbox   chan proto.Message // offers, answers, candidates
	needNeg chan struct{}      // NegNeeded (pion's callback)
	forced  chan struct{}      // Renegotiate
	stateCh chan struct{}      // Connected/Disconnected/Failed: read the state on the loop
	restart chan struct{}      // RestartICE
	resumed chan struct{}      // SignallingBack

	// State, loop goroutine only.
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
	resend  offerResend // FirstOffer's timer (offerresend.go)
	ice     iceRestart  // the restart timer (restart.go)

	// Counters for Stats, read from any goroutine.
	rounds       atomic.Int64 // completed offer/answer exchanges
	glare        atomic.Int64 // offer collisions seen (ignored or rolled back)
	restartsSent atomic.Int64 // ICE restarts we initiated
	restartsDone atomic.Int64 // completed negotiations that changed the remote ufrag
	remoteUfrag  atomic.Value // string: ufrag of the current remote description
}

// sdpConn is what the negotiator uses of a PeerConnection
// (*webrtc.PeerConnection implements it; the unit tests fake it).
type sdpConn interface {
	SignalingState() webrtc.SignalingState
	ConnectionState() webrtc.PeerConnectionState
	LocalDescription() *webrtc.SessionDescription
	RemoteDescription() *webrtc.SessionDescription
	CurrentRemoteDescription() *webrtc.SessionDescription
	CreateOffer(*webrtc.OfferOptions) (webrtc.SessionDescription, error)
	CreateAnswer(*webrtc.AnswerOptions) (webrtc.SessionDescription, error)
	SetLocalDescription(webrtc.SessionDescription) error
	SetRemoteDescription(webrtc.SessionDescription) error
	AddICECandidate(webrtc.ICECandidateInit) error
}

// negState names the negotiator's state (see the table above).
type negState string

const (
	negStable       negState = "Stable"
	negOwed         negState = "Owed"
	negDeferred     negState = "Deferred"
	negFirstOffer   negState = "FirstOffer"
	negOffer        negState = "Offer"
	negRestartOffer negState = "RestartOffer"
	negAnswering    negState = "Answering"
)

// state names the current state. Loop goroutine only.
func (n *negotiator) state() negState {
	switch n.pc.SignalingState() {
	case webrtc.SignalingStateHaveLocalOffer:
		switch {
		case n.offerRestarts:
			return negRestartOffer
		case n.pc.CurrentRemoteDescription() == nil:
			return negFirstOffer
		}
		return negOffer
	case webrtc.SignalingStateStable:
		switch {
		case n.deferred:
			return negDeferred
		case n.wantOffer || n.restartWanted:
			return negOwed
		}
		return negStable
	}
	return negAnswering
}

// negConfig is what a negotiator is made of.
type negConfig struct {
	pc           sdpConn
	log          *slog.Logger
	to           string
	polite       bool
	offerer      bool // we add our media at once and make the first offer
	restartAfter time.Duration
	send         func(proto.Message)
	emit         func(Event)
	addLocal     func() error
	handOff      func(offer proto.Message) bool
	cands        *candidateGate
}

func newNegotiator(c negConfig) *negotiator {
	n := &negotiator{
		pc: c.pc, log: c.log, to: c.to, polite: c.polite, offerer: c.offerer,
		restartAfter: c.restartAfter, send: c.send, emit: c.emit, addLocal: c.addLocal,
		handOff: c.handOff, cands: c.cands,
		inbox:   make(chan proto.Message, inboxSize),
		needNeg: make(chan struct{}, 1),
		forced:  make(chan struct{}, 1),
		stateCh: make(chan struct{}, 1),
		restart: make(chan struct{}, 1),
		resumed: make(chan struct{}, 1),
		// The offerer added its media before the negotiator was made.
		localAdded: c.offerer,
	}
	n.remoteUfrag.Store("")
	return n
}

// post sends a coalescing signal on ch without blocking.
func post(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// run handles events until stop is closed or the connection is handed
// over to a new one (handOff).
func (n *negotiator) run(stop <-chan struct{}) {
	defer n.ice.stop()
	defer n.resend.stop()
	for {
		select {
		case <-stop:
			return
		case m := <-n.inbox:
			if n.handleSignal(m) {
				return // handed over to a new connection (handOff)
			}
		case <-n.needNeg:
			n.makeOffer()
		case <-n.forced:
			n.wantOffer = true
			n.makeOffer()
		case <-n.stateCh:
			n.onConnState()
		case <-n.ice.timerC():
			n.onRestartTimer()
		case <-n.resend.C():
			n.onOfferResendTimer()
		case <-n.restart:
			n.startRestart(restartManual)
		case <-n.resumed:
			n.onSignallingBack()
		}
	}
}

// handleSignal applies one signalling message and reports whether the
// connection was handed over to a new one (see handOff); the loop ends then.
func (n *negotiator) handleSignal(m proto.Message) (handedOff bool) {
	var err error
	switch m.Type {
	case proto.TypeOffer:
		if n.needsNewConnection(m.SDP) && n.handOff(m) {
			return true
		}
		err = n.onOffer(m.SDP)
	case proto.TypeAnswer:
		err = n.onAnswer(m.SDP)
	case proto.TypeCandidate:
		err = n.onCandidate(m.Candidate)
	}
	if err != nil {
		n.log.Warn("negotiation", "type", m.Type, "err", err)
		n.emit(Event{Kind: EventError, Err: err})
	}
	return false
}

// makeOffer creates and sends an offer if the connection is stable, with
// an ICE restart when one is wanted. The non-offering side defers its
// offers while the media path is down (see negotiator.deferred).
func (n *negotiator) makeOffer() {
	if n.pc.SignalingState() != webrtc.SignalingStateStable {
		return // re-attempted when we are back to stable
	}
	if n.offerMustWait() {
		n.log.Debug("offer deferred until the offerer's ICE restart")
		n.deferred = true
		return
	}
	restart := n.restartWanted
	n.cands.close()
	defer n.cands.open(n.send)
	offer, err := n.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
	if err == nil {
		err = n.pc.SetLocalDescription(offer)
	}
	if err != nil {
		n.log.Warn("make offer", "ice_restart", restart, "err", err)
		return // a wanted restart stays wanted; the retry timer re-attempts
	}
	n.restartWanted = false
	n.offerRestarts = restart
	n.send(proto.Message{Type: proto.TypeOffer, To: n.to, SDP: n.pc.LocalDescription().SDP})
	n.watchFirstOffer()
}

// offerMustWait reports whether the non-offering side must hold its own
// offers back (see negotiator.deferred): while the connection is down or
// (re)connecting, an ICE restart from the offerer is pending or under way.
func (n *negotiator) offerMustWait() bool {
	switch n.pc.ConnectionState() {
	case webrtc.PeerConnectionStateDisconnected, webrtc.PeerConnectionStateFailed,
		webrtc.PeerConnectionStateConnecting:
		return !n.offerer
	}
	return false
}

// onOffer applies a remote offer following the perfect-negotiation
// pattern: the impolite side ignores a colliding offer; the polite side
// rolls its own offer back (pion has no implicit rollback) and answers.
func (n *negotiator) onOffer(sdp string) error {
	collision := n.pc.SignalingState() != webrtc.SignalingStateStable
	n.ignoreOffer = !n.polite && collision
	if collision {
		n.glare.Add(1)
	}
	if n.ignoreOffer {
		n.log.Debug("ignoring colliding offer (impolite)")
		return nil
	}
	n.cands.close()
	defer n.cands.open(n.send)
	if collision {
		n.log.Debug("offer collision, rolling back (polite)", "ice_restart", n.offerRestarts)
		if err := n.rollback(); err != nil {
			return err
		}
	}
	if err := n.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return fmt.Errorf("set remote offer: %w", err)
	}
	n.flushCandidates()
	if !n.localAdded {
		// Newcomer: add media after the offer so that our tracks take the
		// offered transceivers instead of asking for a second round.
		if err := n.addLocal(); err != nil {
			return err
		}
		n.localAdded = true
	}
	answer, err := n.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("create answer: %w", err)
	}
	if err := n.pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("set local answer: %w", err)
	}
	n.send(proto.Message{Type: proto.TypeAnswer, To: n.to, SDP: n.pc.LocalDescription().SDP})
	n.rounds.Add(1)
	n.noteRemoteUfrag()
	n.afterStable()
	return nil
}

func (n *negotiator) onAnswer(sdp string) error {
	if n.pc.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
		n.log.Debug("ignoring answer in state", "state", n.pc.SignalingState().String())
		return nil
	}
	if err := n.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return fmt.Errorf("set remote answer: %w", err)
	}
	n.resend.stop()
	n.wantOffer = false
	n.offerRestarts = false
	n.rounds.Add(1)
	n.flushCandidates()
	n.noteRemoteUfrag()
	n.afterStable()
	return nil
}

// afterStable re-offers when an explicit renegotiation or an ICE restart
// is still pending (e.g. the polite side rolled its offer back).
func (n *negotiator) afterStable() {
	if n.wantOffer || n.restartWanted {
		n.makeOffer()
	}
}

func (n *negotiator) onCandidate(c *proto.ICECandidate) error {
	if c == nil || c.Candidate == "" {
		return nil // end-of-candidates: nothing to do for pion
	}
	init := webrtc.ICECandidateInit{
		Candidate:        c.Candidate,
		SDPMid:           c.SDPMid,
		SDPMLineIndex:    c.SDPMLineIndex,
		UsernameFragment: c.UsernameFragment,
	}
	if n.pc.RemoteDescription() == nil {
		n.pending = append(n.pending, init)
		return nil
	}
	if err := n.pc.AddICECandidate(init); err != nil && !n.ignoreOffer {
		return fmt.Errorf("add candidate: %w", err)
	}
	return nil
}

func (n *negotiator) flushCandidates() {
	for _, c := range n.pending {
		if err := n.pc.AddICECandidate(c); err != nil {
			n.log.Debug("add queued candidate", "err", err)
		}
	}
	n.pending = nil
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
// colliding, and a collision after a resume is settled by handOff (see
// needsNewConnection).
//
// An ICE-restart offer cannot be undone this way: pion restarted the ICE
// agent in CreateOffer, so our new credentials stay and go out in the
// answer, while the other side's agent, which ignored our offer, is not
// restarted. The restart is therefore wanted again and re-offered as soon
// as we are stable, exactly as a browser keeps restartIce() pending across
// a rollback; that offer changes the credentials again and restarts both
// agents. Only the offerer restarts ICE, and the other side holds its own
// offers while the path is down, so this collision is rare.
func (n *negotiator) rollback() error {
	current := n.pc.CurrentRemoteDescription()
	if current == nil {
		return errors.New("rollback: offer collision before the first negotiation completed")
	}
	if err := n.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: current.SDP}); err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	if n.offerRestarts {
		n.offerRestarts = false
		n.restartWanted = true
	}
	return nil
}

// needsNewConnection reports whether the remote offer sdp can only be
// answered by a fresh PeerConnection (handOff):
//
//   - It comes from another PeerConnection than the one we negotiated with
//     (its DTLS fingerprint differs): the other side closed ours and started
//     afresh, for instance after it took us for gone during a signalling
//     outage. Applying it to the old connection would restart ICE against
//     a DTLS peer that no longer exists.
//   - It collides with our own first offer and we are the polite side.
//     Perfect negotiation rolls our offer back, but pion cannot roll back
//     (see rollback) and before the first answer there is no description
//     to fall back to. This happens when both sides offer at once after a
//     resume (see onResumed). A connection that never connected loses
//     nothing by being replaced. The impolite side ignores the colliding
//     offer as usual and gets its answer from our replacement.
func (n *negotiator) needsNewConnection(sdp string) bool {
	if cur := n.pc.CurrentRemoteDescription(); cur != nil {
		was, now := sdpFingerprint(cur.SDP), sdpFingerprint(sdp)
		return was != "" && now != "" && was != now
	}
	return n.polite && n.pc.SignalingState() != webrtc.SignalingStateStable
}

// restarts reports whether this side restarts ICE on this connection.
func (n *negotiator) restarts() bool {
	return n.offerer && n.restartAfter > 0
}

// onConnState reacts to a PeerConnection state change.
func (n *negotiator) onConnState() {
	switch n.pc.ConnectionState() {
	case webrtc.PeerConnectionStateConnected:
		n.ice.stop()
		n.ice.attempt = 0
		if n.deferred {
			n.deferred = false
			n.makeOffer()
		}
	case webrtc.PeerConnectionStateDisconnected:
		if n.restarts() && n.ice.timer == nil {
			n.ice.schedule(n.restartAfter, restartDisconnected)
		}
	case webrtc.PeerConnectionStateFailed:
		// Restart at once unless a restart is already under way: its retry
		// timer decides when to try again.
		if n.restarts() && n.ice.attempt == 0 {
			n.startRestart(restartFailed)
		}
	}
}

// onRestartTimer fires a scheduled restart or retry.
func (n *negotiator) onRestartTimer() {
	n.ice.timer = nil
	n.startRestart(n.ice.reason)
}

// startRestart sends an ICE-restart offer (now, or as soon as the
// connection is stable) and, when automatic restarts are on, arms the retry.
func (n *negotiator) startRestart(reason string) {
	n.ice.attempt++
	if n.restarts() {
		n.ice.schedule(restartBackoff(n.restartAfter, n.ice.attempt), restartRetry)
	}
	n.restartsSent.Add(1)
	n.log.Info("restarting ICE", "reason", reason, "attempt", n.ice.attempt)
	n.emit(Event{Kind: EventICERestart, State: reason})
	if n.offerRestarts && n.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
		n.resendOffer("restart offer still unanswered")
		return
	}
	n.restartWanted = true
	n.makeOffer()
}

// watchFirstOffer arms the resend timer after we sent an offer on a
// connection that has never had a remote description.
func (n *negotiator) watchFirstOffer() {
	if n.pc.CurrentRemoteDescription() == nil {
		n.resend.stop()
		n.resend.arm()
	}
}

// onOfferResendTimer sends our first offer again if it is still unanswered.
func (n *negotiator) onOfferResendTimer() {
	if n.pc.CurrentRemoteDescription() != nil || n.pc.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
		n.resend.stop()
		return
	}
	n.resendOffer("first offer still unanswered")
	n.resend.arm()
}

// onSignallingBack re-sends our pending offer, whose answer may have been
// lost with the old signalling connection.
func (n *negotiator) onSignallingBack() {
	if n.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
		n.resendOffer("signalling resumed with our offer unanswered")
	}
}

// resendOffer sends our pending offer (a restart offer, the first one, or
// any after a signalling outage) again: it or its answer was lost (the
// signalling server drops messages over its rate limit, or the other side
// replaced the connection that got it), and a new offer cannot be made
// before we are stable. The other side answers a repeated offer like any
// offer; a copy that arrives after the answer is ignored (Answer in Stable).
func (n *negotiator) resendOffer(why string) {
	if desc := n.pc.LocalDescription(); desc != nil {
		n.log.Info("sending our offer again", "why", why)
		n.send(proto.Message{Type: proto.TypeOffer, To: n.to, SDP: desc.SDP})
	}
}

// noteRemoteUfrag records the remote ICE username fragment after a
// completed negotiation and counts a change as a completed ICE restart.
func (n *negotiator) noteRemoteUfrag() {
	desc := n.pc.CurrentRemoteDescription()
	if desc == nil {
		return
	}
	ufrag := iceUfrag(desc.SDP)
	prev, _ := n.remoteUfrag.Load().(string)
	if ufrag == prev {
		return
	}
	n.remoteUfrag.Store(ufrag)
	if prev != "" {
		n.restartsDone.Add(1)
		n.log.Info("ICE restarted", "remote_ufrag", ufrag)
	}
}

// handOver empties the negotiator for its replacement (handOff): the
// queued remote candidates, as candidate messages from the peer, then the
// messages still waiting in the inbox, in order.
func (n *negotiator) handOver(from string, deliver func(proto.Message)) {
	for _, c := range n.pending {
		deliver(proto.Message{Type: proto.TypeCandidate, From: from, Candidate: &proto.ICECandidate{
			Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}})
	}
	n.pending = nil
	for {
		select {
		case m := <-n.inbox:
			deliver(m)
		default:
			return
		}
	}
}
