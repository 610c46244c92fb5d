package signal

import (
	"context"
	"errors"

	"github.com/videochat/videochat/signal/proto"
)

// Errors a Backend returns. The server maps each to a coded protocol error.
var (
	// ErrRoomFull: the room already holds its maximum number of peers.
	ErrRoomFull = errors.New("room full")
	// ErrUnknownPeer: the target of a directed message is not in the room.
	ErrUnknownPeer = errors.New("unknown peer")
	// ErrUnavailable: the backend cannot currently reach its store.
	ErrUnavailable = errors.New("backend unavailable")
)

// Sink receives the frames a Backend delivers to one locally connected peer.
type Sink interface {
	// Deliver hands one encoded server-to-client frame to the peer's
	// connection. It never blocks: it returns false when the peer's send
	// queue is full, and the connection is then evicted. Deliver does not
	// keep frame after it returns: a sink that queues it keeps a copy, so
	// the caller may reuse the buffer (the relay hands out pooled buffers,
	// see DESIGN.md "How a message flows"). A frame starts with
	// {"type":"…" (see proto.Message), which a sink may read by prefix.
	Deliver(frame []byte) bool
}

// Backend keeps room membership and carries frames between peers, wherever
// they are connected. The in-memory backend (NewMemoryBackend) serves a
// single process; a Redis backend lets several servers share rooms.
//
// Frames are complete, encoded server-to-client messages; a Backend does not
// re-encode them, and it does not keep a frame passed to Send or Broadcast
// after the call returns (it copies what it holds back). All methods are safe for concurrent use.
type Backend interface {
	// Join admits peer p to room unless the room already holds max peers
	// (ErrRoomFull). The check and the admission are atomic: concurrent
	// joins never over-admit. On success it returns the peers that were
	// already in the room (not p), and from then on every frame sent to p or
	// broadcast in the room is passed to sink, in order for each sender.
	// Join announces p to the others with a peer-joined message.
	Join(ctx context.Context, room string, p proto.PeerInfo, max int, sink Sink) ([]proto.PeerInfo, error)

	// Leave removes peer id from room and announces its departure to the
	// others with a peer-left message. Leaving a room one is not in is a
	// no-op. After Leave returns no more frames reach the peer's sink.
	Leave(ctx context.Context, room, id string) error

	// Send delivers frame to peer to in room. It returns ErrUnknownPeer when
	// to is not in the room and ErrUnavailable when the frame cannot be
	// handed on; a nil error means the frame was accepted for delivery.
	// Frames from one sender to one target arrive in the order sent.
	Send(ctx context.Context, room, to string, frame []byte) error

	// Broadcast delivers frame to every peer in room except except.
	Broadcast(ctx context.Context, room, except string, frame []byte) error

	// Close releases the backend's resources and stops its goroutines.
	Close() error
}

// NonBlocking is an optional interface of a Backend. A Backend whose
// NonBlocking reports true promises that Send never waits on I/O or on
// another peer (it only hands the frame to a Sink, which never blocks): the
// server then calls Send with context.Background instead of a per-message
// timeout context, which would cost more than the rest of the relay.
//
// A wrapper around a Backend (metrics, tracing) keeps this fast path by
// forwarding NonBlocking, for example by embedding the wrapped backend.
// A Backend without the method gets the timeout: the safe default.
type NonBlocking interface {
	NonBlocking() bool
}
