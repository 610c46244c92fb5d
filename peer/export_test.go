package peer

import (
	"fmt"

	"github.com/videochat/videochat/signal/proto"
)

// DropSignalling cuts the live signalling WebSocket without a close frame,
// as a network failure would, and reports whether there was one. The peer
// notices, and reconnects like after any drop.
func (p *Peer) DropSignalling() bool {
	p.mu.Lock()
	sc := p.sc
	p.mu.Unlock()
	if sc == nil {
		return false
	}
	_ = sc.ws.Close()
	return true
}

// ReplaceConnection closes our connection to peer id without telling
// anyone and makes a new one that offers to it: what a peer does when it
// took id for gone during a signalling outage and then sees it join again.
func (p *Peer) ReplaceConnection(id string) error {
	p.mu.Lock()
	r := p.detachLocked(id)
	info := p.rosterInfoLocked(proto.PeerInfo{ID: id})
	p.mu.Unlock()
	if r == nil {
		return fmt.Errorf("no connection to %q", id)
	}
	p.closeDetached(r)
	_, err := p.ensureRemote(info, true)
	return err
}
