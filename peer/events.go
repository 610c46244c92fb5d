package peer

import (
	"time"

	"github.com/videochat/videochat/signal/proto"
)

// EventKind names what an Event reports.
type EventKind string

// Event kinds passed to Config.OnEvent.
const (
	// EventWelcome: the server admitted us; Peer is ourselves.
	EventWelcome EventKind = "welcome"
	// EventPeerJoined: Peer entered the room.
	EventPeerJoined EventKind = "peer-joined"
	// EventPeerLeft: Peer left the room; its connection is being torn down.
	EventPeerLeft EventKind = "peer-left"
	// EventState: the PeerConnection to Peer changed state (State holds
	// the new webrtc.PeerConnectionState as a string).
	EventState EventKind = "state"
	// EventFirstFrame: the first complete video frame arrived from Peer.
	EventFirstFrame EventKind = "first-frame"
	// EventICERestart: we are restarting ICE with Peer; State says why:
	// "failed", "disconnected" (for longer than Config.ICERestartAfter),
	// "retry" (the previous restart did not reconnect) or "manual"
	// (RestartICE). Only the side that made the first offer restarts.
	EventICERestart EventKind = "ice-restart"
	// EventReconnecting: the signalling connection ended (Err says why);
	// the connections carry on while the peer reconnects.
	EventReconnecting EventKind = "reconnecting"
	// EventResumed: signalling is back with our id unchanged (Peer is
	// ourselves); every connection was kept.
	EventResumed EventKind = "resumed"
	// EventRejoined: signalling is back but the server gave us a new id
	// (Peer is our new self): every connection was closed (a peer-left
	// event for each) and the others will offer to us again.
	EventRejoined EventKind = "rejoined"
	// EventError: something went wrong with the connection to Peer; Err says what.
	EventError EventKind = "error"
)

// Event reports a change that a status display may want to show. Events
// are delivered from several goroutines; the handler must not block.
type Event struct {
	Kind  EventKind
	Peer  proto.PeerInfo
	State string
	Err   error
	Time  time.Time
}
