package peer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/signal/proto"
)

// Signalling outages (issue 6 items 4 and 5). Media is peer to peer, so a
// lost signalling connection leaves every PeerConnection up: the peer
// keeps sending and receiving, chat keeps working on the data channels and
// Stats keeps reporting. Meanwhile outgoing signalling (candidates, offers)
// waits in the bounded queue p.out, and the peer reconnects with backoff
// and jitter, presenting the resume token of its last welcome:
//
//   - Same id back (the server held our session, or a restarted server
//     re-admitted us): the connections stay. The welcome's roster is
//     reconciled with them (see onResumed and reconcile) and the queued
//     messages go out.
//   - A new id (token refused or expired, resume switched off): to the
//     others we are a newcomer. Every connection is closed, the queue is
//     dropped (its messages name our old connections) and the others
//     offer to us as to any newcomer.
const (
	// DefaultReconnectFor is how long a peer keeps trying to reach the
	// signalling server before Run gives up (Config.ReconnectFor).
	DefaultReconnectFor = 5 * time.Minute
	// reconnectFirst and reconnectMax bound the backoff: 250 ms, 500 ms,
	// 1 s, 2 s, 4 s, then 5 s, each ±reconnectJitter.
	reconnectFirst  = 250 * time.Millisecond
	reconnectMax    = 5 * time.Second
	reconnectJitter = 0.3
	// reconcileEvery is how often the main loop checks the connections
	// against the roster after a resume.
	reconcileEvery = time.Second
	// adoptAfter is how long we wait, after a resumed welcome, for an offer
	// from a roster peer we have no connection with before offering to it
	// ourselves (see onResumed).
	adoptAfter = time.Second
	// unlistedFor is how long a connection to a peer missing from a
	// resumed welcome's roster is kept while its media is up: long enough
	// for that peer's own reconnect to a restarted server (its backoff is
	// at most reconnectMax plus jitter).
	unlistedFor = 30 * time.Second
)

// reconnectDelay is the wait before reconnect attempt n (0-based): twice
// the previous one, from reconnectFirst up to reconnectMax, scaled by
// 1 + reconnectJitter·j for j in [-1, 1].
func reconnectDelay(n int, j float64) time.Duration {
	d := reconnectFirst
	for i := 0; i < n && d < reconnectMax; i++ {
		d *= 2
	}
	d = min(d, reconnectMax)
	return time.Duration(float64(d) * (1 + reconnectJitter*j))
}

// reconnect tries to open a new signalling connection until it succeeds,
// ctx ends (nil, nil), the server refuses us for good (its *proto.Error) or
// Config.ReconnectFor has passed (ErrSignallingLost). On success the welcome
// has been taken and the connection is ready to start.
func (p *Peer) reconnect(ctx context.Context, cause error) (*sigConn, error) {
	p.log.Warn("signalling connection lost; reconnecting", "err", cause, "give_up_after", p.cfg.ReconnectFor)
	p.emit(Event{Kind: EventReconnecting, Err: cause})
	giveUp := time.Now().Add(p.cfg.ReconnectFor)
	for n := 0; ; n++ {
		// The last attempt is made when ReconnectFor is up.
		wait := min(reconnectDelay(n, 2*rand.Float64()-1), max(0, time.Until(giveUp)))
		if !sleepCtx(ctx, wait) {
			return nil, nil
		}
		sc, welcome, err := p.dial(ctx)
		if ctx.Err() != nil {
			if sc != nil {
				sc.close(false)
			}
			return nil, nil
		}
		if err == nil {
			p.onRewelcome(welcome)
			return sc, nil
		}
		if !retryable(err) {
			p.log.Error("server refused the reconnect", "err", err)
			return nil, err
		}
		if !time.Now().Before(giveUp) {
			return nil, fmt.Errorf("%w: no connection for %v: %w", ErrSignallingLost, p.cfg.ReconnectFor, err)
		}
		p.log.Info("reconnect failed", "attempt", n+1, "err", err)
	}
}

// retryable reports whether a failed reconnect may succeed later: network
// errors and HTTP refusals (429, 503) do, and so do the coded errors of a
// busy or restarting server. A bad token, name or version, or a session
// another connection took over, does not.
func retryable(err error) bool {
	var perr *proto.Error
	if !errors.As(err, &perr) {
		return true
	}
	switch perr.Code {
	case proto.CodeUnavailable, proto.CodeRoomLimit, proto.CodeRoomFull, proto.CodeRateLimited,
		proto.CodeServerShutdown, proto.CodeInternal, proto.CodeHandshakeTimeout:
		return true
	}
	return false
}

// sleepCtx waits for d and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// setConn records the live signalling connection (nil while reconnecting).
func (p *Peer) setConn(sc *sigConn) {
	p.mu.Lock()
	p.sc = sc
	p.mu.Unlock()
}

// onRewelcome takes the welcome of a reconnect: the same id is a resume,
// another one a fresh join.
func (p *Peer) onRewelcome(m proto.Message) {
	if m.ID == p.Self().ID {
		p.onResumed(m)
		return
	}
	p.onRejoined(m)
}

// onResumed keeps every connection and reconciles them with the roster,
// which lists the room as it is now. The frames that follow (buffered by a
// server that held our session) may still announce changes.
//
//   - A connection to a peer that is not in the roster is marked unlisted.
//     Either the peer left while we were away and its peer-left was lost,
//     or the server restarted and that peer has not reconnected yet. Its
//     own peer-joined clears the mark; reconcile closes it once its media
//     is down or after unlistedFor.
//   - A roster peer we have no connection with joined while we were away.
//     If our session was held, its buffered peer-joined follows and we
//     offer as usual; if the server restarted, that peer sees us join and
//     offers to us. Should neither happen within adoptAfter, reconcile
//     makes the connection and offers (a collision with a late offer from
//     it is settled by handOff).
//   - Each connection re-sends an offer still waiting for its answer: the
//     answer may have been lost with the old socket.
func (p *Peer) onResumed(m proto.Message) {
	now := time.Now()
	p.mu.Lock()
	self := p.takeWelcomeLocked(m)
	rs := make([]*remote, 0, len(p.remotes))
	for id, r := range p.remotes {
		rs = append(rs, r)
		if _, listed := p.roster[id]; listed {
			delete(p.unlisted, id)
		} else if _, marked := p.unlisted[id]; !marked {
			p.unlisted[id] = now
		}
	}
	for id := range p.roster {
		if p.remotes[id] == nil {
			p.adopt[id] = now.Add(adoptAfter)
		}
	}
	unlisted, missing := len(p.unlisted), len(p.adopt)
	p.mu.Unlock()
	for _, r := range rs {
		r.signallingBack()
	}
	p.log.Info("signalling resumed", "self", self.ID, "peers", len(m.Peers),
		"connections", len(rs), "unlisted", unlisted, "new_in_roster", missing)
	p.emit(Event{Kind: EventResumed, Peer: self})
}

// onRejoined handles a welcome with a new id: to the room we are a new
// peer, so every connection (made under the old id) is closed and the
// queued signalling, addressed from the old id, is dropped. The peers in
// the roster will offer to us.
func (p *Peer) onRejoined(m proto.Message) {
	old := p.Self()
	for _, info := range p.dropAll() {
		p.emit(Event{Kind: EventPeerLeft, Peer: info})
	}
	dropped := p.drainOut()
	p.mu.Lock()
	self := p.takeWelcomeLocked(m)
	p.mu.Unlock()
	p.log.Warn("session not resumed; joined again as a new peer", "old_id", old.ID, "self", self.ID,
		"peers", len(m.Peers), "dropped_messages", dropped)
	p.emit(Event{Kind: EventRejoined, Peer: self})
}

// drainOut empties the outgoing queue and returns how many messages it
// dropped. No writer runs while it is called.
func (p *Peer) drainOut() int {
	n := 0
	for {
		select {
		case <-p.out:
			n++
		default:
			return n
		}
	}
}

// reconcile closes the unlisted connections whose time is up and offers to
// the roster peers nobody offered to (see onResumed).
func (p *Peer) reconcile(now time.Time) {
	var gone []*remote
	var goneInfo, adopt []proto.PeerInfo
	p.mu.Lock()
	for id, since := range p.unlisted {
		r := p.remotes[id]
		if r == nil {
			delete(p.unlisted, id)
			continue
		}
		if now.Sub(since) < unlistedFor && r.mediaAlive() {
			continue
		}
		goneInfo = append(goneInfo, p.rosterInfoLocked(r.info))
		gone = append(gone, p.detachLocked(id))
	}
	for id, at := range p.adopt {
		info, listed := p.roster[id]
		if !listed || p.remotes[id] != nil {
			delete(p.adopt, id)
			continue
		}
		if now.After(at) {
			delete(p.adopt, id)
			adopt = append(adopt, info)
		}
	}
	p.mu.Unlock()
	for i, r := range gone {
		p.log.Info("closing connection to a peer that is no longer in the room", "peer", goneInfo[i].ID)
		p.emit(Event{Kind: EventPeerLeft, Peer: goneInfo[i]})
		p.closeDetached(r)
	}
	for _, info := range adopt {
		p.log.Info("offering to a peer that joined while signalling was down", "peer", info.ID)
		p.emit(Event{Kind: EventPeerJoined, Peer: info})
		if _, err := p.ensureRemote(info, true); err != nil {
			p.log.Error("create connection", "peer", info.ID, "err", err)
			p.emit(Event{Kind: EventError, Peer: info, Err: err})
		}
	}
}

// mediaAlive reports whether the connection is up or still coming up.
func (r *remote) mediaAlive() bool {
	switch r.pc.ConnectionState() {
	case webrtc.PeerConnectionStateNew, webrtc.PeerConnectionStateConnecting, webrtc.PeerConnectionStateConnected:
		return true
	}
	return false
}

// usable reports whether the connection is worth keeping for a peer that
// joined again: not closed (pion closes it when the other side does) and
// not failed.
func (r *remote) usable() bool {
	switch r.pc.ConnectionState() {
	case webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateFailed:
		return false
	}
	return true
}

// signallingBack tells the connection's loop that signalling to its peer
// is back: ours resumed, or the peer took its id back on a restarted
// server (messages sent to it meanwhile were refused as unknown-peer).
func (r *remote) signallingBack() {
	post(r.neg.resumed)
}
