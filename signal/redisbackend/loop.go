package redisbackend

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/signal/proto"
)

// loopOp is a request to the event loop, which owns the rooms' views.
type loopOp struct {
	// activate, with seq and roster from its join script, ends a join.
	activate *localPeer
	seq      int64
	roster   []rosterEntry
	// leftLocally is a peer whose departure could not reach Redis: the
	// other local peers of room are told at once.
	leftLocally *proto.PeerInfo
	room        string

	done chan bool // receives whether the op applied
}

// Subscriber notices for the event loop.
type (
	subscribed   struct{}
	unsubscribed struct{ err error }
)

// submit hands op to the event loop and waits until it is applied. It
// fails only when the backend is shutting down.
func (b *Backend) submit(op loopOp) error {
	op.done = make(chan bool, 1)
	select {
	case b.ops <- op:
	case <-b.stopped:
		return fmt.Errorf("%w: backend closed", signal.ErrUnavailable)
	}
	select {
	case ok := <-op.done:
		if !ok {
			return fmt.Errorf("%w: peer left while joining", signal.ErrUnavailable)
		}
		return nil
	case <-b.stopped:
		return fmt.Errorf("%w: backend closed", signal.ErrUnavailable)
	}
}

// requestResync asks the event loop to resynchronise with Redis.
func (b *Backend) requestResync() {
	select {
	case b.resync <- struct{}{}:
	default:
	}
}

// eventLoop applies envelopes, join activations and resynchronisations in
// one goroutine, so each room's view changes in one order.
func (b *Backend) eventLoop(ctx context.Context) {
	l := &loopState{
		retry:   newStoppedTimer(),
		recheck: newStoppedTimer(),
		pending: make(map[string]bool),
	}
	defer l.retry.Stop()
	defer l.recheck.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case item := <-b.inbox:
			b.handleInbox(ctx, l, item)
		case op := <-b.ops:
			op.done <- b.applyOp(op)
		case <-b.resync:
			if l.subscribed {
				b.runResync(ctx, l)
			}
		case <-l.retry.C:
			if l.subscribed && !b.live.Load() {
				b.runResync(ctx, l)
			}
		case <-l.recheck.C:
			b.runRecheck(ctx, l)
		}
	}
}

// loopState is the event loop's own bookkeeping.
type loopState struct {
	subscribed bool
	retry      *time.Timer     // failed resynchronisation
	recheck    *time.Timer     // rooms with peers kept after a resync
	pending    map[string]bool // rooms to recheck
}

func newStoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// handleInbox handles one item from the subscriber.
func (b *Backend) handleInbox(ctx context.Context, l *loopState, item any) {
	switch it := item.(type) {
	case subscribed:
		l.subscribed = true
		b.runResync(ctx, l)
	case unsubscribed:
		l.subscribed = false
		if b.live.Swap(false) {
			b.log.Warn("redis subscription lost", "err", it.err)
		}
	case string:
		b.handleEnvelope(it)
	}
}

// runResync resynchronises, and on failure retries a heartbeat later.
func (b *Backend) runResync(ctx context.Context, l *loopState) {
	deferred, err := b.resynchronise(ctx)
	if err != nil {
		b.live.Store(false)
		b.log.Warn("resynchronisation failed; retrying", "err", err)
		l.retry.Reset(min(maxBackoff, b.cfg.heartbeat()))
		return
	}
	for _, room := range deferred {
		l.pending[room] = true
	}
	if len(deferred) > 0 {
		// By then every live server has beaten and resynchronised.
		l.recheck.Reset(b.cfg.PresenceTTL + b.cfg.heartbeat())
	}
}

// runRecheck applies fresh rosters to the rooms kept after a resync.
func (b *Backend) runRecheck(ctx context.Context, l *loopState) {
	rooms := slices.Collect(maps.Keys(l.pending))
	if err := b.recheck(ctx, rooms); err != nil {
		b.log.Warn("roster recheck failed; retrying", "err", err)
		l.recheck.Reset(b.cfg.heartbeat())
		return
	}
	clear(l.pending)
}

// handleEnvelope delivers one envelope received from Redis.
func (b *Backend) handleEnvelope(payload string) {
	e, err := decodeEnvelope(payload)
	if err != nil {
		b.log.Warn("dropping malformed envelope", "err", err)
		return
	}
	switch e.Kind {
	case kindDirect:
		b.mu.Lock()
		var lp *localPeer
		if rs := b.rooms[e.Room]; rs != nil {
			lp = rs.peers[e.To]
		}
		b.mu.Unlock()
		if lp == nil || !lp.deliver(0, e.Frame) {
			b.log.Debug("directed frame for a peer that is gone", "room", e.Room, "to", e.To)
		}
	case kindBroadcast:
		b.mu.Lock()
		var local []*localPeer
		if rs := b.rooms[e.Room]; rs != nil {
			local = rs.peersExcept(e.Except)
		}
		b.mu.Unlock()
		for _, lp := range local {
			lp.deliver(0, e.Frame)
		}
	case kindJoined, kindLeft:
		b.applyMember(e)
	default:
		b.log.Warn("dropping envelope of unknown kind", "kind", e.Kind)
	}
}

// applyMember applies a membership envelope to the room's view and tells
// the local peers when it changes the roster they know.
func (b *Backend) applyMember(e envelope) {
	b.mu.Lock()
	rs := b.rooms[e.Room]
	if rs == nil {
		b.mu.Unlock()
		return
	}
	if !rs.based {
		rs.backlog = append(rs.backlog, e)
		b.mu.Unlock()
		return
	}
	if e.Seq <= rs.pos {
		b.mu.Unlock()
		return
	}
	rs.pos = e.Seq
	_, known := rs.members[e.Peer.ID]
	changed := known != (e.Kind == kindJoined)
	if changed {
		if e.Kind == kindJoined {
			rs.members[e.Peer.ID] = e.Peer.Name
		} else {
			delete(rs.members, e.Peer.ID)
		}
	}
	targets := rs.peersExcept(e.Peer.ID)
	b.mu.Unlock()
	if !changed {
		return
	}
	frame := memberFrame(e.Kind, *e.Peer)
	for _, lp := range targets {
		lp.deliver(e.Seq, frame)
	}
}

// applyOp carries out a request from Join or Leave.
func (b *Backend) applyOp(op loopOp) bool {
	if op.activate != nil {
		return b.activate(op.activate, op.seq, op.roster)
	}
	b.mu.Lock()
	rs := b.rooms[op.room]
	var targets []*localPeer
	if rs != nil && rs.based {
		if _, ok := rs.members[op.leftLocally.ID]; ok {
			delete(rs.members, op.leftLocally.ID)
			targets = rs.peersExcept(op.leftLocally.ID)
		}
	}
	b.mu.Unlock()
	frame := memberFrame(kindLeft, *op.leftLocally)
	for _, lp := range targets {
		lp.deliver(0, frame)
	}
	return true
}

// activate ends lp's join: its roster (before the join) reflects room
// changes up to seq. The first active peer of a room bases the room's view
// on that roster and replays the envelopes that arrived meanwhile; a later
// one whose roster is older than the view is sent the difference.
func (b *Backend) activate(lp *localPeer, seq int64, roster []rosterEntry) bool {
	b.mu.Lock()
	rs := b.rooms[lp.room]
	if rs == nil || rs.peers[lp.info.ID] != lp {
		b.mu.Unlock()
		return false
	}
	var first [][]byte
	var replay []envelope
	joinSeq := seq
	switch {
	case !rs.based:
		rs.based, rs.pos = true, seq
		rs.members = rosterMap(roster)
		rs.members[lp.info.ID] = lp.info.Name
		replay, rs.backlog = rs.backlog, nil
	case seq < rs.pos:
		knows := rosterMap(roster)
		knows[lp.info.ID] = lp.info.Name
		first = rosterDiff(knows, rs.members, lp.info.ID)
		joinSeq = rs.pos
	}
	lp.active = true
	b.mu.Unlock()
	lp.activate(joinSeq, first)
	for _, e := range replay {
		b.applyMember(e)
	}
	return true
}
