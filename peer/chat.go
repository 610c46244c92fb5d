package peer

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/signal/proto"
)

// SendChat sends text to every peer whose chat channel is open. It returns
// ErrNoPeers when nobody could be reached, and the joined per-peer errors
// when some sends failed.
func (p *Peer) SendChat(text string) error {
	if n := utf8.RuneCountInString(text); n > maxChatChars {
		return fmt.Errorf("chat line of %d characters: at most %d", n, maxChatChars)
	}
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

// onChatMessage routes one message of the chat channel: chat lines to
// Config.OnChat with the sender's roster entry, state and file messages to
// their handlers (state.go, files.go). Bad input is answered with the
// documented error message and otherwise ignored (datamsg.go).
func (r *remote) onChatMessage(msg webrtc.DataChannelMessage) {
	m, refusal := parseDataMessage(msg.Data, msg.IsString)
	if refusal != nil {
		r.log.Info("refused a data channel message", "code", refusal.Code, "reason", refusal.Message, "bytes", len(msg.Data))
		if reply := refusal.reply(); reply != nil {
			_ = r.sendData(reply)
		}
		return
	}
	switch m.Type {
	case msgChat:
		if r.p.cfg.OnChat != nil {
			r.p.cfg.OnChat(r.p.rosterInfo(r.info), *m.Text)
		}
	case msgState:
		r.onState(m)
	case msgError:
		r.log.Warn("the peer refused our message", "code", m.Code, "ref", m.Ref, "reason", m.Message)
		r.feat.refusals.Add(1)
	default:
		r.p.feat.files.onControl(r, m)
	}
}

// sendData sends one message on the chat channel.
func (r *remote) sendData(m *dataMessage) error {
	dc := r.chatChannel()
	if dc == nil || dc.ReadyState() != webrtc.DataChannelStateOpen {
		return ErrNoPeers
	}
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", m.Type, err)
	}
	if len(data) > MaxMessageBytes {
		return fmt.Errorf("%s message too long (%d bytes)", m.Type, len(data))
	}
	return dc.SendText(string(data))
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
