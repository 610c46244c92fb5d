package peer

import (
	"strings"

	"github.com/videochat/videochat/signal/proto"
)

// handOff replaces old, our connection to a peer, by a fresh one in the
// newcomer role that answers offer, and reports whether it did. It runs on
// old's loop, which must end when it returns true; old is closed in the
// background. The candidates old held back for want of a remote
// description (they came from the connection that sent offer) follow the
// offer, then the messages still waiting in old's inbox, in order:
// onDirected delivers under p.mu, so none can be stranded.
func (p *Peer) handOff(old *remote, offer proto.Message) bool {
	p.mu.Lock()
	ice, live := p.ice, !p.closing && p.remotes[old.info.ID] == old
	p.mu.Unlock()
	if !live {
		return false
	}
	nr, err := newRemote(p, old.self, old.info, ice, false)
	if err != nil {
		old.log.Error("replace connection", "err", err)
		return false
	}
	p.mu.Lock()
	if p.closing || p.remotes[old.info.ID] != old {
		p.mu.Unlock()
		nr.close()
		return false
	}
	p.remotes[old.info.ID] = nr
	nr.deliver(offer)
	old.neg.handOver(old.info.ID, nr.deliver)
	p.wg.Add(1)
	p.mu.Unlock()
	old.log.Info("the other side started a new connection; replacing ours")
	go func() {
		defer p.wg.Done()
		old.close()
	}()
	return true
}

// sdpFingerprint returns the first a=fingerprint value of an SDP ("" if
// none). pion keeps one certificate per PeerConnection, so a new value
// means a new PeerConnection.
func sdpFingerprint(sdp string) string {
	for line := range strings.Lines(sdp) {
		if v, ok := strings.CutPrefix(line, "a=fingerprint:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
