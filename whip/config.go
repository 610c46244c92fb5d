// Package whip opens videochat rooms to standard WebRTC tools: WHIP ingest
// (RFC 9725) publishes into a room, WHEP egress (draft-ietf-wish-whep) plays
// one participant of a room.
//
// The package terminates the tool's PeerConnection on the server and meets
// the room as an ordinary participant, through the normal signalling
// protocol, with the native peer (package peer). The signalling server's
// path for ordinary rooms stays free of media code, and everything the room
// enforces (tokens, --max-peers, rate limits) applies to these participants
// as to any other.
//
//   - WHIP: one room participant per session, named after the publisher.
//     Its tracks are TrackLocalStaticRTP fed with the publisher's RTP,
//     unchanged apart from the header extensions (which are stripped: their
//     ids belong to the publisher's negotiation); of a simulcast publisher,
//     one layer, renumbered across layer switches (forward.go). Key-frame
//     requests of the room's receivers reach the tracks' RequestKeyFrame
//     and go to the publisher as PLI, at most one per KeyFrameInterval.
//   - WHEP: one receive-only room participant per room (the "watcher"),
//     shared by every WHEP session of the room: it receives each room
//     participant once, and a participant's audio and video are each one
//     TrackLocalStaticRTP added to every player's PeerConnection (fan-out
//     without copies per player beyond pion's per-binding header rewrite).
//
// Invariants:
//   - Every session has one supervising goroutine (supervise) that alone
//     ends it: on DELETE, ICE failure, ICE not connected in time, a room
//     participant that stopped, or Handler.Close. Teardown closes the
//     PeerConnection, stops the room participant and waits for every
//     goroutine the session started before the session leaves the registry.
//   - A POST waits at most JoinTimeout (WHEP: plus TrackTimeout) plus ICE
//     gathering, and gives up when its client goes away; bad input gets a
//     coded answer (see errors.go), never a panic or a hang.
//   - The package imports peer, signal/proto and signal/token only: the
//     signalling server knows nothing of it.
package whip

import (
	"log/slog"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/signal/proto"
)

// DefaultReadBatch is the period over which the server's media sockets
// coalesce their reads (serve --whip-read-batch; internal/rxbatch): 0, off.
// Coalescing did not lower the server's CPU per packet at any period that
// keeps the added delay under the 10 ms budget, and cost more at 5 ms
// (BENCHMARKS.md, "WHIP and WHEP forwarding", third round).
const DefaultReadBatch time.Duration = 0

// Defaults for the zero values of Config.
const (
	DefaultMaxSessions       = 256
	DefaultMaxSDP            = 64 << 10
	DefaultConnectTimeout    = 30 * time.Second
	DefaultDisconnectTimeout = 15 * time.Second
	DefaultJoinTimeout       = 10 * time.Second
	DefaultTrackTimeout      = 10 * time.Second
	DefaultKeyFrameInterval  = 500 * time.Millisecond
	// WatcherName is the display name of the room participant that WHEP
	// sessions share.
	WatcherName = "WHEP"
	// DefaultName is a WHIP publisher's name when the request gives none.
	DefaultName = "WHIP"
)

// Config configures a Handler.
type Config struct {
	// WHIP and WHEP enable the endpoints POST /whip/{room} and
	// POST /whep/{room}/{name}. A disabled one answers 404.
	WHIP, WHEP bool
	// API builds every PeerConnection: the publisher's or player's and the
	// room participant's. Its MediaEngine decides which codecs a publisher
	// may send (they must be codecs the room's receivers accept). Required.
	API *webrtc.API
	// Server returns the base URL of the signalling server through which a
	// session for a client at clientIP joins its room (e.g. a loopback
	// listener that attributes the connection to clientIP). Required.
	Server func(clientIP string) string
	// TokenSecret, when set, is the server's --token-secret: requests need
	// "Authorization: Bearer <room token>" valid for the room, WHIP needs a
	// token that may publish and joins under the token's name, and the WHEP
	// watcher joins with a view-only token minted with it.
	TokenSecret []byte
	// ICEServers, when set, lists the STUN/TURN servers announced in Link
	// headers; user identifies the session (for TURN REST credentials).
	ICEServers func(user string) []proto.ICEServer
	// MaxSessions caps the WHIP and WHEP sessions open at once (default
	// DefaultMaxSessions); past it a POST gets 503.
	MaxSessions int
	// MaxSDP caps the size of an offer or a PATCH body in bytes (default
	// DefaultMaxSDP); larger ones get 413.
	MaxSDP int
	// ConnectTimeout: a session whose ICE has not connected this long
	// after its 201 is reaped (default DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// DisconnectTimeout: a session whose ICE stays disconnected this long
	// is reaped; a failed one at once (default DefaultDisconnectTimeout).
	DisconnectTimeout time.Duration
	// JoinTimeout bounds joining the room during a POST (default
	// DefaultJoinTimeout); past it the POST gets 503.
	JoinTimeout time.Duration
	// TrackTimeout bounds how long a WHEP POST waits for the participant's
	// tracks to reach the watcher (default DefaultTrackTimeout).
	TrackTimeout time.Duration
	// KeyFrameInterval is the shortest time between two key-frame requests
	// sent to one source (default DefaultKeyFrameInterval).
	KeyFrameInterval time.Duration
	// Logger receives the handler's logs; nil discards them.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.MaxSDP <= 0 {
		c.MaxSDP = DefaultMaxSDP
	}
	set(&c.ConnectTimeout, DefaultConnectTimeout)
	set(&c.DisconnectTimeout, DefaultDisconnectTimeout)
	set(&c.JoinTimeout, DefaultJoinTimeout)
	set(&c.TrackTimeout, DefaultTrackTimeout)
	set(&c.KeyFrameInterval, DefaultKeyFrameInterval)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}
