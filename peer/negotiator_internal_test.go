package peer

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/signal/proto"
)

// fakePC is a PeerConnection reduced to what the negotiator sees: pion's
// signalling state machine (with pion's refusals: no offer in
// have-local-offer, no answer in stable), a DTLS fingerprint, ICE
// credentials that change on an ICE-restart offer or on answering an offer
// whose credentials changed, and a connection state the test sets.
type fakePC struct {
	fp, ufrag  string
	gen        int // ufrag generation
	seq        int // descriptions made
	sig        webrtc.SignalingState
	conn       webrtc.PeerConnectionState
	local      *webrtc.SessionDescription
	remote     *webrtc.SessionDescription // pending or current
	current    *webrtc.SessionDescription // current remote
	candidates int
}

func newFakePC(name string) *fakePC {
	return &fakePC{fp: "sha-256 " + name, sig: webrtc.SignalingStateStable, conn: webrtc.PeerConnectionStateNew}
}

func (f *fakePC) newUfrag() {
	f.gen++
	f.ufrag = fmt.Sprintf("%s%d", strings.Fields(f.fp)[1], f.gen)
}

func (f *fakePC) sdp() string {
	f.seq++
	return fmt.Sprintf("v=0\r\na=fingerprint:%s\r\na=ice-ufrag:%s\r\na=x-seq:%d\r\n", f.fp, f.ufrag, f.seq)
}

func (f *fakePC) SignalingState() webrtc.SignalingState                { return f.sig }
func (f *fakePC) ConnectionState() webrtc.PeerConnectionState          { return f.conn }
func (f *fakePC) LocalDescription() *webrtc.SessionDescription         { return f.local }
func (f *fakePC) RemoteDescription() *webrtc.SessionDescription        { return f.remote }
func (f *fakePC) CurrentRemoteDescription() *webrtc.SessionDescription { return f.current }
func (f *fakePC) AddICECandidate(webrtc.ICECandidateInit) error        { f.candidates++; return nil }
func (f *fakePC) CreateAnswer(*webrtc.AnswerOptions) (webrtc.SessionDescription, error) {
	if f.sig != webrtc.SignalingStateHaveRemoteOffer {
		return webrtc.SessionDescription{}, errors.New("fake: answer without a remote offer")
	}
	if f.ufrag == "" || (f.current != nil && iceUfrag(f.current.SDP) != iceUfrag(f.remote.SDP)) {
		f.newUfrag() // a remote ICE restart restarts our agent too
	}
	return webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: f.sdp()}, nil
}

func (f *fakePC) CreateOffer(o *webrtc.OfferOptions) (webrtc.SessionDescription, error) {
	if f.ufrag == "" || (o != nil && o.ICERestart) {
		f.newUfrag()
	}
	return webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: f.sdp()}, nil
}

func (f *fakePC) SetLocalDescription(d webrtc.SessionDescription) error {
	switch {
	case d.Type == webrtc.SDPTypeOffer && f.sig == webrtc.SignalingStateStable:
		f.sig = webrtc.SignalingStateHaveLocalOffer
	case d.Type == webrtc.SDPTypeAnswer && f.sig == webrtc.SignalingStateHaveRemoteOffer:
		f.sig, f.current = webrtc.SignalingStateStable, f.remote
	default:
		return fmt.Errorf("fake: local %s in %s", d.Type, f.sig)
	}
	f.local = &d
	return nil
}

func (f *fakePC) SetRemoteDescription(d webrtc.SessionDescription) error {
	switch {
	case d.Type == webrtc.SDPTypeOffer && f.sig == webrtc.SignalingStateStable:
		f.sig = webrtc.SignalingStateHaveRemoteOffer
	case d.Type == webrtc.SDPTypeAnswer && f.sig == webrtc.SignalingStateHaveLocalOffer:
		f.sig, f.current = webrtc.SignalingStateStable, &d
	default:
		return fmt.Errorf("fake: remote %s in %s", d.Type, f.sig)
	}
	f.remote = &d
	return nil
}

// side is one end of a negotiation under test: a negotiator on a fakePC,
// with what it sent (its wire), the events it emitted and its hand-offs.
type side struct {
	name     string
	pc       *fakePC
	n        *negotiator
	wire     []proto.Message
	events   []Event
	handOffs int
}

func newSide(t *testing.T, name string, polite, offerer bool) *side {
	s := &side{name: name, pc: newFakePC(name)}
	s.n = newNegotiator(negConfig{
		pc: s.pc, log: slog.New(slog.DiscardHandler), to: "other", polite: polite, offerer: offerer,
		restartAfter: time.Second,
		send:         func(m proto.Message) { s.wire = append(s.wire, m) },
		emit:         func(e Event) { s.events = append(s.events, e) },
		addLocal:     func() error { return nil },
		handOff:      func(proto.Message) bool { s.handOffs++; return true },
		cands:        &candidateGate{},
	})
	t.Cleanup(func() { // the timers the loop's exit would stop
		s.n.ice.stop()
		s.n.resend.stop()
	})
	return s
}

// pair is a call: a is the offerer, b the newcomer.
type pair struct{ a, b *side }

// deliver hands every message on from's wire to to, in order; it reports
// whether to handed its connection off.
func deliver(t *testing.T, from, to *side) (handedOff bool) {
	t.Helper()
	msgs := from.wire
	from.wire = nil
	for _, m := range msgs {
		if to.n.handleSignal(m) {
			handedOff = true
		}
	}
	return handedOff
}

// lose drops every message on s's wire.
func lose(s *side) { s.wire = nil }

// exchange delivers back and forth until both wires are empty.
func exchange(t *testing.T, p *pair) {
	t.Helper()
	for range 10 {
		if len(p.a.wire) == 0 && len(p.b.wire) == 0 {
			return
		}
		deliver(t, p.a, p.b)
		deliver(t, p.b, p.a)
	}
	t.Fatal("negotiation does not settle")
}

// connected returns a call whose first negotiation completed, with the
// given politeness of the offerer.
func connected(t *testing.T, offererPolite bool) *pair {
	t.Helper()
	p := &pair{a: newSide(t, "A", offererPolite, true), b: newSide(t, "B", !offererPolite, false)}
	p.a.n.makeOffer()
	exchange(t, p)
	for _, s := range []*side{p.a, p.b} {
		s.pc.conn = webrtc.PeerConnectionStateConnected
		s.n.onConnState()
	}
	return p
}

func offers(s *side) (n int) {
	for _, m := range s.wire {
		if m.Type == proto.TypeOffer {
			n++
		}
	}
	return n
}

// step is one event (or delivery) and the states it must leave.
type step struct {
	what   string
	do     func(t *testing.T, p *pair)
	a, b   negState // "" means not checked
	verify func(t *testing.T, p *pair)
}

func renegotiate(s *side)        { s.n.wantOffer = true; s.n.makeOffer() } // the forced event
func aToB(t *testing.T, p *pair) { deliver(t, p.a, p.b) }
func bToA(t *testing.T, p *pair) { deliver(t, p.b, p.a) }

// TestNegotiatorTransitions walks the transition table of negotiator.go
// on a fake PeerConnection, one scenario per row group.
func TestNegotiatorTransitions(t *testing.T) {
	for _, c := range []struct {
		name          string
		offererPolite bool
		fresh         bool // start before the first negotiation
		steps         []step
	}{{
		name: "first offer and answer", fresh: true,
		steps: []step{
			{what: "A offers", do: func(t *testing.T, p *pair) { p.a.n.makeOffer() }, a: negFirstOffer, b: negStable,
				verify: func(t *testing.T, p *pair) {
					if p.a.n.resend.timer == nil || p.a.n.resend.wait != firstOfferResend {
						t.Errorf("resend timer %v wait %v, want armed at %v", p.a.n.resend.timer, p.a.n.resend.wait, firstOfferResend)
					}
				}},
			{what: "B answers", do: aToB, a: negFirstOffer, b: negStable},
			{what: "A applies the answer", do: bToA, a: negStable, b: negStable,
				verify: func(t *testing.T, p *pair) {
					if p.a.n.resend.timer != nil {
						t.Error("resend timer still armed after the answer")
					}
					if p.a.n.rounds.Load() != 1 || p.b.n.rounds.Load() != 1 {
						t.Errorf("rounds %d/%d, want 1/1", p.a.n.rounds.Load(), p.b.n.rounds.Load())
					}
				}},
		},
	}, {
		name: "lost first offer is sent again with backoff", fresh: true,
		steps: []step{
			{what: "A offers, lost", do: func(t *testing.T, p *pair) { p.a.n.makeOffer(); lose(p.a) }, a: negFirstOffer},
			{what: "resend timer", do: func(t *testing.T, p *pair) { p.a.n.onOfferResendTimer() }, a: negFirstOffer,
				verify: func(t *testing.T, p *pair) {
					if len(p.a.wire) != 1 || p.a.wire[0].SDP != p.a.pc.local.SDP {
						t.Errorf("resent %d messages, want the same offer once", len(p.a.wire))
					}
					if p.a.n.resend.wait != 2*firstOfferResend {
						t.Errorf("next wait %v, want %v", p.a.n.resend.wait, 2*firstOfferResend)
					}
				}},
			{what: "resend lost too; timer again", do: func(t *testing.T, p *pair) {
				lose(p.a)
				for range 5 {
					p.a.n.onOfferResendTimer()
				}
			}, a: negFirstOffer,
				verify: func(t *testing.T, p *pair) {
					if p.a.n.resend.wait != maxOfferResend {
						t.Errorf("wait %v, want capped at %v", p.a.n.resend.wait, maxOfferResend)
					}
				}},
			{what: "B answers all copies", do: aToB, b: negStable},
			{what: "A applies one answer, ignores the others", do: bToA, a: negStable,
				verify: func(t *testing.T, p *pair) {
					if p.a.n.resend.timer != nil {
						t.Error("resend timer still armed")
					}
					if e := errEvents(p.a); e != 0 {
						t.Errorf("%d error events", e)
					}
				}},
		},
	}, {
		name: "glare, A impolite: A ignores, B rolls back and answers", offererPolite: false,
		steps: []step{
			{what: "both renegotiate", do: func(t *testing.T, p *pair) { renegotiate(p.a); renegotiate(p.b) }, a: negOffer, b: negOffer},
			{what: "A gets B's offer: ignored", do: bToA, a: negOffer,
				verify: func(t *testing.T, p *pair) { wantGlare(t, p.a, 1) }},
			{what: "B gets A's offer: rollback, answer, re-offer", do: aToB, b: negOffer,
				verify: func(t *testing.T, p *pair) {
					wantGlare(t, p.b, 1)
					if got := p.b.wire; len(got) != 2 || got[0].Type != proto.TypeAnswer || got[1].Type != proto.TypeOffer {
						t.Errorf("B sent %v, want answer then offer", types(got))
					}
				}},
			{what: "A applies the answer, answers the offer", do: bToA, a: negStable},
			{what: "B applies the answer", do: aToB, a: negStable, b: negStable,
				verify: func(t *testing.T, p *pair) {
					if p.a.n.wantOffer || p.b.n.wantOffer {
						t.Error("an explicit offer still owed")
					}
				}},
		},
	}, {
		name: "glare, A polite: B ignores, A rolls back and answers", offererPolite: true,
		steps: []step{
			{what: "both renegotiate", do: func(t *testing.T, p *pair) { renegotiate(p.a); renegotiate(p.b) }, a: negOffer, b: negOffer},
			{what: "A gets B's offer: rollback, answer, re-offer", do: bToA, a: negOffer},
			{what: "B: ignores A's first offer, applies the answer, answers the second", do: aToB, b: negStable,
				verify: func(t *testing.T, p *pair) { wantGlare(t, p.b, 1) }},
			{what: "A applies the answer", do: bToA, a: negStable, b: negStable},
		},
	}, {
		name: "first-offer glare: polite side hands off, impolite ignores", offererPolite: false, fresh: true,
		steps: []step{
			{what: "both offer first", do: func(t *testing.T, p *pair) { p.a.n.makeOffer(); p.b.n.makeOffer() }, a: negFirstOffer, b: negFirstOffer},
			{what: "A (impolite) ignores", do: bToA, a: negFirstOffer,
				verify: func(t *testing.T, p *pair) {
					if p.a.handOffs != 0 {
						t.Error("impolite side handed off")
					}
				}},
			{what: "B (polite) hands off", do: func(t *testing.T, p *pair) {
				if !deliver(t, p.a, p.b) {
					t.Error("polite side did not hand off")
				}
			}, b: negFirstOffer},
		},
	}, {
		name: "offer from a new PeerConnection hands off",
		steps: []step{
			{what: "offer with another fingerprint", do: func(t *testing.T, p *pair) {
				other := newFakePC("A2")
				offer, _ := other.CreateOffer(nil)
				if !p.b.n.handleSignal(proto.Message{Type: proto.TypeOffer, SDP: offer.SDP}) {
					t.Error("no hand-off")
				}
			}, b: negStable},
		},
	}, {
		name: "ICE restart while an offer is outstanding", offererPolite: true,
		steps: []step{
			{what: "A renegotiates", do: func(t *testing.T, p *pair) { renegotiate(p.a) }, a: negOffer},
			{what: "RestartICE: owed until stable", do: func(t *testing.T, p *pair) { p.a.n.startRestart(restartManual) }, a: negOffer,
				verify: func(t *testing.T, p *pair) {
					if !p.a.n.restartWanted || offers(p.a) != 1 {
						t.Errorf("restartWanted %v, %d offers on the wire, want owed and 1", p.a.n.restartWanted, offers(p.a))
					}
					if p.a.n.ice.timer == nil || p.a.n.ice.reason != restartRetry {
						t.Error("retry timer not armed")
					}
				}},
			{what: "B answers", do: aToB, b: negStable},
			{what: "A: answer applied, restart offered", do: bToA, a: negRestartOffer,
				verify: func(t *testing.T, p *pair) {
					if iceUfrag(p.a.pc.local.SDP) == iceUfrag(p.b.pc.current.SDP) {
						t.Error("restart offer kept the old ufrag")
					}
				}},
			{what: "RestartICE again: the same offer resent", do: func(t *testing.T, p *pair) {
				sdp := p.a.pc.local.SDP
				p.a.n.startRestart(restartManual)
				if len(p.a.wire) != 2 || p.a.wire[1].SDP != sdp {
					t.Errorf("wire %v, want the restart offer twice", types(p.a.wire))
				}
			}, a: negRestartOffer},
			{what: "B answers (its agent restarts too)", do: aToB, b: negStable},
			{what: "A applies one answer", do: bToA, a: negStable, b: negStable,
				verify: func(t *testing.T, p *pair) {
					if p.a.n.restartsDone.Load() != 1 || p.b.n.restartsDone.Load() != 1 {
						t.Errorf("completed restarts %d/%d, want 1/1", p.a.n.restartsDone.Load(), p.b.n.restartsDone.Load())
					}
					if n := len(p.a.events); n != 2 || p.a.events[0].Kind != EventICERestart {
						t.Errorf("events %v, want 2 ice-restart", p.a.events)
					}
				}},
		},
	}, {
		name: "ICE-restart glare, restarter polite: rolled back and restarted again", offererPolite: true,
		steps: []step{
			{what: "A restarts, B renegotiates", do: func(t *testing.T, p *pair) {
				p.a.n.startRestart(restartManual)
				renegotiate(p.b)
			}, a: negRestartOffer, b: negOffer},
			{what: "A gets B's offer: rollback, restart wanted again, answer, re-offer", do: bToA, a: negRestartOffer,
				verify: func(t *testing.T, p *pair) {
					if got := types(p.a.wire); got != "offer answer offer" {
						t.Errorf("A sent %s", got)
					}
				}},
			{what: "B ignores the first, applies the answer, answers the restart", do: aToB, b: negStable},
			{what: "A applies the answer", do: bToA, a: negStable, b: negStable,
				verify: func(t *testing.T, p *pair) {
					if p.b.n.restartsDone.Load() < 1 || p.a.n.restartsDone.Load() != 1 {
						t.Errorf("completed restarts A %d B %d", p.a.n.restartsDone.Load(), p.b.n.restartsDone.Load())
					}
				}},
		},
	}, {
		name: "ICE-restart glare, restarter impolite: the other side's offer is ignored", offererPolite: false,
		steps: []step{
			{what: "A restarts, B renegotiates", do: func(t *testing.T, p *pair) {
				p.a.n.startRestart(restartManual)
				renegotiate(p.b)
			}, a: negRestartOffer, b: negOffer},
			{what: "A ignores B's offer", do: bToA, a: negRestartOffer},
			{what: "B rolls back, answers the restart, re-offers", do: aToB, b: negOffer},
			{what: "A applies the answer, answers", do: bToA, a: negStable},
			{what: "B applies the answer", do: aToB, a: negStable, b: negStable,
				verify: func(t *testing.T, p *pair) {
					if p.a.n.restartsDone.Load() != 1 || p.b.n.restartsDone.Load() != 1 {
						t.Errorf("completed restarts %d/%d, want 1/1", p.a.n.restartsDone.Load(), p.b.n.restartsDone.Load())
					}
				}},
		},
	}, {
		name: "remote restart: the answering side follows",
		steps: []step{
			{what: "A's restart offer reaches B", do: func(t *testing.T, p *pair) {
				p.a.n.startRestart(restartManual)
				before := p.b.pc.ufrag
				aToB(t, p)
				if p.b.pc.ufrag == before {
					t.Error("B kept its ufrag")
				}
			}, a: negRestartOffer, b: negStable,
				verify: func(t *testing.T, p *pair) {
					if p.b.n.restartsDone.Load() != 1 || len(p.b.events) != 0 {
						t.Errorf("B: %d restarts done, events %v", p.b.n.restartsDone.Load(), p.b.events)
					}
				}},
			{what: "A applies the answer", do: bToA, a: negStable},
		},
	}, {
		name: "offerer: disconnected arms the restart, the timer restarts, connected clears",
		steps: []step{
			{what: "disconnected", do: func(t *testing.T, p *pair) { setConn(p.a, webrtc.PeerConnectionStateDisconnected) }, a: negStable,
				verify: func(t *testing.T, p *pair) {
					if p.a.n.ice.timer == nil || p.a.n.ice.reason != restartDisconnected {
						t.Error("restart timer not armed for disconnected")
					}
				}},
			{what: "timer fires", do: func(t *testing.T, p *pair) { p.a.n.onRestartTimer() }, a: negRestartOffer,
				verify: func(t *testing.T, p *pair) {
					if p.a.n.ice.attempt != 1 || p.a.n.ice.reason != restartRetry {
						t.Errorf("attempt %d reason %q", p.a.n.ice.attempt, p.a.n.ice.reason)
					}
				}},
			{what: "failed during the restart: no second one", do: func(t *testing.T, p *pair) { setConn(p.a, webrtc.PeerConnectionStateFailed) }, a: negRestartOffer,
				verify: func(t *testing.T, p *pair) {
					if offers(p.a) != 1 {
						t.Errorf("%d offers, want 1", offers(p.a))
					}
				}},
			{what: "answered", do: func(t *testing.T, p *pair) { aToB(t, p); bToA(t, p) }, a: negStable, b: negStable},
			{what: "connected", do: func(t *testing.T, p *pair) { setConn(p.a, webrtc.PeerConnectionStateConnected) }, a: negStable,
				verify: func(t *testing.T, p *pair) {
					if p.a.n.ice.timer != nil || p.a.n.ice.attempt != 0 {
						t.Error("restart state not cleared")
					}
				}},
			{what: "failed: restart at once", do: func(t *testing.T, p *pair) { setConn(p.a, webrtc.PeerConnectionStateFailed) }, a: negRestartOffer,
				verify: func(t *testing.T, p *pair) {
					if e := p.a.events[len(p.a.events)-1]; e.Kind != EventICERestart || e.State != restartFailed {
						t.Errorf("last event %+v", e)
					}
				}},
		},
	}, {
		name: "non-offerer: no restarts, offers deferred while the path is down",
		steps: []step{
			{what: "disconnected: no restart timer", do: func(t *testing.T, p *pair) { setConn(p.b, webrtc.PeerConnectionStateDisconnected) }, b: negStable,
				verify: func(t *testing.T, p *pair) {
					if p.b.n.ice.timer != nil {
						t.Error("non-offerer armed a restart")
					}
				}},
			{what: "renegotiate: deferred", do: func(t *testing.T, p *pair) { renegotiate(p.b) }, b: negDeferred,
				verify: func(t *testing.T, p *pair) {
					if len(p.b.wire) != 0 {
						t.Errorf("sent %s", types(p.b.wire))
					}
				}},
			{what: "connected: the deferred offer goes out", do: func(t *testing.T, p *pair) { setConn(p.b, webrtc.PeerConnectionStateConnected) }, b: negOffer},
			{what: "answered", do: func(t *testing.T, p *pair) { bToA(t, p); aToB(t, p) }, a: negStable, b: negStable},
		},
	}, {
		name: "signalling back: a pending offer is sent again, nothing otherwise",
		steps: []step{
			{what: "stable", do: func(t *testing.T, p *pair) { p.b.n.onSignallingBack() }, b: negStable,
				verify: func(t *testing.T, p *pair) {
					if len(p.b.wire) != 0 {
						t.Error("sent something while stable")
					}
				}},
			{what: "offer lost with the old socket", do: func(t *testing.T, p *pair) { renegotiate(p.b); lose(p.b); p.b.n.onSignallingBack() }, b: negOffer,
				verify: func(t *testing.T, p *pair) {
					if offers(p.b) != 1 || p.b.wire[0].SDP != p.b.pc.local.SDP {
						t.Error("pending offer not resent")
					}
				}},
			{what: "answered", do: func(t *testing.T, p *pair) { bToA(t, p); aToB(t, p) }, a: negStable, b: negStable},
		},
	}, {
		name: "candidates before the remote description are queued", fresh: true,
		steps: []step{
			{what: "candidate first", do: func(t *testing.T, p *pair) {
				p.b.n.handleSignal(proto.Message{Type: proto.TypeCandidate, Candidate: &proto.ICECandidate{Candidate: "candidate:1 1 udp 1 10.0.0.1 1 typ host"}})
				if len(p.b.n.pending) != 1 || p.b.pc.candidates != 0 {
					t.Errorf("pending %d added %d", len(p.b.n.pending), p.b.pc.candidates)
				}
			}, b: negStable},
			{what: "offer: queued candidate added", do: func(t *testing.T, p *pair) { p.a.n.makeOffer(); aToB(t, p) }, b: negStable,
				verify: func(t *testing.T, p *pair) {
					if len(p.b.n.pending) != 0 || p.b.pc.candidates != 1 {
						t.Errorf("pending %d added %d", len(p.b.n.pending), p.b.pc.candidates)
					}
				}},
		},
	}} {
		t.Run(c.name, func(t *testing.T) {
			var p *pair
			if c.fresh {
				p = &pair{a: newSide(t, "A", c.offererPolite, true), b: newSide(t, "B", !c.offererPolite, false)}
			} else {
				p = connected(t, c.offererPolite)
			}
			for i, s := range c.steps {
				s.do(t, p)
				if s.a != "" && p.a.n.state() != s.a {
					t.Errorf("step %d (%s): A in %s, want %s", i, s.what, p.a.n.state(), s.a)
				}
				if s.b != "" && p.b.n.state() != s.b {
					t.Errorf("step %d (%s): B in %s, want %s", i, s.what, p.b.n.state(), s.b)
				}
				if s.verify != nil {
					s.verify(t, p)
				}
				if t.Failed() {
					t.Fatalf("stopped after step %d (%s); A sent %s, B sent %s", i, s.what, types(p.a.wire), types(p.b.wire))
				}
			}
		})
	}
}

func setConn(s *side, st webrtc.PeerConnectionState) {
	s.pc.conn = st
	s.n.onConnState()
}

func wantGlare(t *testing.T, s *side, n int64) {
	t.Helper()
	if got := s.n.glare.Load(); got != n {
		t.Errorf("%s: %d collisions, want %d", s.name, got, n)
	}
}

func errEvents(s *side) (n int) {
	for _, e := range s.events {
		if e.Kind == EventError {
			n++
		}
	}
	return n
}

func types(ms []proto.Message) string {
	var b []string
	for _, m := range ms {
		b = append(b, m.Type)
	}
	return strings.Join(b, " ")
}
