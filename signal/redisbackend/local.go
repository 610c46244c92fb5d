package redisbackend

import (
	"bytes"
	"maps"
	"slices"
	"sync"

	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/signal/proto"
)

// maxPending bounds the frames held for a peer whose join is in progress.
const maxPending = 1024

// localPeer is a peer connected to this node.
//
// A peer is pending from the start of its Join until the event loop has
// placed it in the room's membership stream; frames for it meanwhile are
// held, then delivered in order. Membership frames carry the room change
// number that produced them: a peer never gets one its welcome roster
// already reflects (seq <= joinSeq).
type localPeer struct {
	info proto.PeerInfo
	room string
	sink signal.Sink

	// Guarded by Backend.mu.
	registered bool // the join script has run, so Redis lists the peer
	active     bool // activated by the event loop

	// mu guards the delivery state below and serialises Deliver calls, so
	// that frames reach the sink in the order they were handed over.
	mu      sync.Mutex
	pending bool
	closed  bool
	joinSeq int64
	held    []heldFrame
}

type heldFrame struct {
	seq   int64 // room change number for membership frames, else 0
	frame []byte
}

func newLocalPeer(room string, info proto.PeerInfo, sink signal.Sink) *localPeer {
	return &localPeer{info: info, room: room, sink: sink, pending: true}
}

// deliver hands frame to the sink, or holds it while the peer is pending.
// seq is the change number of a membership frame, 0 for other frames. It
// reports false when the frame was refused (closed peer, full queue).
func (p *localPeer) deliver(seq int64, frame []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return false
	case p.pending:
		if len(p.held) >= maxPending {
			return false
		}
		p.held = append(p.held, heldFrame{seq: seq, frame: bytes.Clone(frame)})
		return true
	case seq != 0 && seq <= p.joinSeq:
		return true // already in the peer's roster
	}
	return p.sink.Deliver(frame)
}

// activate ends the pending state: the peer's roster reflects room changes
// up to joinSeq, and first frames brings it up to date (resync diffs).
// Held frames follow, without membership frames the roster already has.
func (p *localPeer) activate(joinSeq int64, first [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.pending = false
	p.joinSeq = joinSeq
	for _, f := range first {
		p.sink.Deliver(f)
	}
	for _, h := range p.held {
		if h.seq == 0 || h.seq > joinSeq {
			p.sink.Deliver(h.frame)
		}
	}
	p.held = nil
}

// resynced tells the peer that its room's roster was re-read at change
// number seq (which may restart from a low number after Redis lost its
// data): diff brings an active peer's view up to date. A pending peer's
// held membership frames are dropped; its activation computes its diff.
func (p *localPeer) resynced(seq int64, diff [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if p.pending {
		kept := p.held[:0]
		for _, h := range p.held {
			if h.seq == 0 {
				kept = append(kept, h)
			}
		}
		p.held = kept
		return
	}
	p.joinSeq = seq
	for _, f := range diff {
		p.sink.Deliver(f)
	}
}

// close stops all delivery to the peer.
func (p *localPeer) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.held = nil
}

// roomState is this node's view of one room with local peers.
//
// While at least one local peer is active the room is based: members is
// the roster as of change number pos, kept current by the membership
// envelopes from Redis (applied by the event loop only). Without an active
// peer, membership envelopes are kept in backlog until the first join
// completes and bases the room on its roster.
type roomState struct {
	peers   map[string]*localPeer
	based   bool
	pos     int64
	members map[string]string // id → name
	backlog []envelope
}

func newRoomState() *roomState {
	return &roomState{peers: make(map[string]*localPeer)}
}

// hasActive reports whether any local peer of the room is active.
func (r *roomState) hasActive() bool {
	for _, p := range r.peers {
		if p.active {
			return true
		}
	}
	return false
}

// unbase forgets the room's view once no local peer is active.
func (r *roomState) unbase() {
	r.based, r.pos, r.members, r.backlog = false, 0, nil, nil
}

// peersExcept lists the room's local peers other than except.
func (r *roomState) peersExcept(except string) []*localPeer {
	out := make([]*localPeer, 0, len(r.peers))
	for id, p := range r.peers {
		if id != except {
			out = append(out, p)
		}
	}
	return out
}

// rosterDiff returns the frames that take a peer (self) knowing roster was
// to roster now: peer-joined for members of now not in was, then peer-left
// for members of was not in now, each in id order.
func rosterDiff(was, now map[string]string, self string) [][]byte {
	var out [][]byte
	for _, id := range slices.Sorted(maps.Keys(now)) {
		if _, ok := was[id]; !ok && id != self {
			out = append(out, memberFrame(kindJoined, proto.PeerInfo{ID: id, Name: now[id]}))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(was)) {
		if _, ok := now[id]; !ok && id != self {
			out = append(out, memberFrame(kindLeft, proto.PeerInfo{ID: id, Name: was[id]}))
		}
	}
	return out
}

// rosterMap turns roster entries into an id → name map.
func rosterMap(entries []rosterEntry) map[string]string {
	m := make(map[string]string, len(entries))
	for _, e := range entries {
		m[e.info.ID] = e.info.Name
	}
	return m
}
