package signal

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/videochat/videochat/signal/proto"
)

var (
	_ Backend     = (*MemoryBackend)(nil)
	_ NonBlocking = (*MemoryBackend)(nil)
)

// MemoryBackend is the single-process Backend: rooms live in a map guarded
// by one mutex. Membership changes happen under the lock; frames are handed
// to sinks after it is released (lock, copy, unlock, then send), and since
// Sink.Deliver never blocks, no call waits on a slow peer.
//
// A room exists while it has at least one peer. Send reports ErrUnknownPeer
// both for a peer that is not in the room and for one whose sink refuses the
// frame (its queue is full and it is being evicted, or it is closing), so
// the sender always learns that a directed frame was not accepted. It starts
// no goroutines.
type MemoryBackend struct {
	mu     sync.Mutex
	rooms  map[string]*memRoom
	closed bool
}

type memRoom struct {
	peers map[string]*memPeer
	// seq numbers joins so that rosters list peers in the order they came.
	seq uint64
}

type memPeer struct {
	info proto.PeerInfo
	sink Sink
	seq  uint64
}

// NewMemoryBackend returns an empty in-memory backend.
func NewMemoryBackend() *MemoryBackend {
	return &MemoryBackend{rooms: make(map[string]*memRoom)}
}

// Join implements Backend. It admits p under the lock and announces it
// to the peers already there after releasing it.
func (b *MemoryBackend) Join(_ context.Context, room string, p proto.PeerInfo, max int, sink Sink) ([]proto.PeerInfo, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrUnavailable
	}
	r := b.rooms[room]
	if r == nil {
		r = &memRoom{peers: make(map[string]*memPeer)}
		b.rooms[room] = r
	}
	if _, dup := r.peers[p.ID]; dup {
		b.mu.Unlock()
		return nil, fmt.Errorf("join %q: peer id %q is already in the room", room, p.ID)
	}
	if len(r.peers) >= max {
		b.mu.Unlock()
		return nil, ErrRoomFull
	}
	members := r.sorted()
	others := make([]proto.PeerInfo, len(members))
	sinks := make([]Sink, len(members))
	for i, m := range members {
		others[i], sinks[i] = m.info, m.sink
	}
	r.seq++
	r.peers[p.ID] = &memPeer{info: p, sink: sink, seq: r.seq}
	b.mu.Unlock()
	deliverAll(sinks, proto.Encode(proto.Message{Type: proto.TypePeerJoined, Peer: &p}))
	return others, nil
}

// Leave implements Backend.
func (b *MemoryBackend) Leave(_ context.Context, room, id string) error {
	b.mu.Lock()
	r := b.rooms[room]
	var gone *memPeer
	if r != nil {
		gone = r.peers[id]
		delete(r.peers, id)
		if len(r.peers) == 0 {
			delete(b.rooms, room)
		}
	}
	sinks := r.sinksExcept("")
	b.mu.Unlock()
	if gone != nil {
		deliverAll(sinks, proto.Encode(proto.Message{Type: proto.TypePeerLeft, Peer: &gone.info}))
	}
	return nil
}

// Send implements Backend.
func (b *MemoryBackend) Send(_ context.Context, room, to string, frame []byte) error {
	b.mu.Lock()
	var sink Sink
	if r := b.rooms[room]; r != nil {
		if p := r.peers[to]; p != nil {
			sink = p.sink
		}
	}
	closed := b.closed
	b.mu.Unlock()
	switch {
	case closed:
		return ErrUnavailable
	case sink == nil, !sink.Deliver(frame):
		return ErrUnknownPeer
	}
	return nil
}

// Broadcast implements Backend.
func (b *MemoryBackend) Broadcast(_ context.Context, room, except string, frame []byte) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrUnavailable
	}
	sinks := b.rooms[room].sinksExcept(except)
	b.mu.Unlock()
	deliverAll(sinks, frame)
	return nil
}

// NonBlocking reports true: Send only hands the frame to a Sink after a
// map lookup under a short lock. See the NonBlocking interface.
func (b *MemoryBackend) NonBlocking() bool { return true }

// Close implements Backend. Afterwards Join, Send and Broadcast return
// ErrUnavailable; Leave still works so that connections can wind down.
func (b *MemoryBackend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

// sorted returns the room's peers in join order. The caller holds the lock.
func (r *memRoom) sorted() []*memPeer {
	out := make([]*memPeer, 0, len(r.peers))
	for _, p := range r.peers {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *memPeer) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// sinksExcept returns the sinks of every peer but except. A nil room has
// none. The caller holds the lock.
func (r *memRoom) sinksExcept(except string) []Sink {
	if r == nil {
		return nil
	}
	out := make([]Sink, 0, len(r.peers))
	for id, p := range r.peers {
		if id != except {
			out = append(out, p.sink)
		}
	}
	return out
}

// deliverAll hands frame to every sink. A sink that refuses it evicts its
// own connection, so the result is not needed here.
func deliverAll(sinks []Sink, frame []byte) {
	for _, s := range sinks {
		s.Deliver(frame)
	}
}
