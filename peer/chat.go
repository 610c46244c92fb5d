package peer

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/signal/proto"
)

// SendChat sends text to every peer whose chat channel is open. It returns
// ErrNoPeers when nobody could be reached, and the joined per-peer errors
// when some sends failed.
func (p *Peer) SendChat(text string) error {
	data, err := json.Marshal(proto.ChatMessage{Type: "chat", Text: text})
	if err != nil {
		return fmt.Errorf("encode chat: %w", err)
	}
	sent := 0
	var errs []error
	for _, r := range p.remotesSorted() {
		dc := r.chatChannel()
		if dc == nil || dc.ReadyState() != webrtc.DataChannelStateOpen {
			continue
		}
		if err := dc.SendText(string(data)); err != nil {
			errs = append(errs, fmt.Errorf("chat to %s: %w", r.info.ID, err))
			continue
		}
		sent++
	}
	if sent == 0 && len(errs) == 0 {
		return ErrNoPeers
	}
	return errors.Join(errs...)
}

func (r *remote) chatChannel() *webrtc.DataChannel {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.chat
}

// onChatMessage decodes one chat line and hands it to Config.OnChat with
// the sender's roster entry.
func (r *remote) onChatMessage(msg webrtc.DataChannelMessage) {
	var m proto.ChatMessage
	if err := json.Unmarshal(msg.Data, &m); err != nil || m.Type != "chat" {
		r.log.Debug("ignoring data channel message", "bytes", len(msg.Data))
		return
	}
	if r.p.cfg.OnChat != nil {
		r.p.cfg.OnChat(r.p.rosterInfo(r.info), m.Text)
	}
}

// rosterInfo returns the current roster entry for info.ID, or info.
func (p *Peer) rosterInfo(info proto.PeerInfo) proto.PeerInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rosterInfoLocked(info)
}

// rosterInfoLocked is rosterInfo with p.mu held.
func (p *Peer) rosterInfoLocked(info proto.PeerInfo) proto.PeerInfo {
	if ri, ok := p.roster[info.ID]; ok {
		return ri
	}
	return info
}
