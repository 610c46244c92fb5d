package peer

import (
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/signal/proto"
)

// candidateGate keeps our trickled candidates behind the description they
// belong to. pion starts gathering inside CreateOffer (ICE restart) and
// SetRemoteDescription (a remote restart) or SetLocalDescription, so a
// candidate could otherwise overtake the offer or answer on the wire and
// reach the other side before the ICE credentials it belongs to.
type candidateGate struct {
	mu   sync.Mutex
	hold bool
	held []proto.Message
}

// pass sends m now, or keeps it while the gate is held. The lock is held
// while sending (which never blocks) so that order is preserved.
func (g *candidateGate) pass(m proto.Message, send func(proto.Message)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.hold {
		g.held = append(g.held, m)
		return
	}
	send(m)
}

// close holds candidates until open is called.
func (g *candidateGate) close() {
	g.mu.Lock()
	g.hold = true
	g.mu.Unlock()
}

// open sends the held candidates, in order, and lets later ones through.
func (g *candidateGate) open(send func(proto.Message)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range g.held {
		send(m)
	}
	g.held, g.hold = nil, false
}

// candidateMessage turns a local candidate into a signalling message to to.
func candidateMessage(to string, c *webrtc.ICECandidate) proto.Message {
	init := c.ToJSON()
	return proto.Message{Type: proto.TypeCandidate, To: to, Candidate: &proto.ICECandidate{
		Candidate:        init.Candidate,
		SDPMid:           init.SDPMid,
		SDPMLineIndex:    init.SDPMLineIndex,
		UsernameFragment: init.UsernameFragment,
	}}
}
