package peer

import (
	"strings"

	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/signal/proto"
)

// needsNewConnection reports whether the remote offer sdp can only be
// answered by a fresh PeerConnection:
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
func (r *remote) needsNewConnection(sdp string) bool {
	if cur := r.pc.CurrentRemoteDescription(); cur != nil {
		was, now := sdpFingerprint(cur.SDP), sdpFingerprint(sdp)
		return was != "" && now != "" && was != now
	}
	return r.polite && r.pc.SignalingState() != webrtc.SignalingStateStable
}

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
	for _, c := range old.neg.pending {
		nr.deliver(proto.Message{Type: proto.TypeCandidate, From: old.info.ID, Candidate: &proto.ICECandidate{
			Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}})
	}
	old.neg.pending = nil
	for moved := true; moved; {
		select {
		case m := <-old.inbox:
			nr.deliver(m)
		default:
			moved = false
		}
	}
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
