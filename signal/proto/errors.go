package proto

import "fmt"

// Error codes carried in error and bye messages. Each comes with a short
// human message; internal error text never reaches clients.
const (
	// CodeBadMessage: the frame is not valid JSON, has the wrong field types,
	// an unknown type, a missing target or payload, or a client-set "from".
	CodeBadMessage = "bad-message"
	// CodeBadRoom: the room name in the URL is not valid.
	CodeBadRoom = "bad-room"
	// CodeBadName: the display name is empty, too long or has control characters.
	CodeBadName = "bad-name"
	// CodeRoomFull: the room already holds its maximum number of peers.
	CodeRoomFull = "room-full"
	// CodeUnknownPeer: a directed message names a peer not in the room.
	CodeUnknownPeer = "unknown-peer"
	// CodeUnsupportedVersion: the join message's version is not spoken here.
	CodeUnsupportedVersion = "unsupported-version"
	// CodeNotJoined: a message other than join arrived before the join.
	CodeNotJoined = "not-joined"
	// CodeAlreadyJoined: a second join arrived on a joined connection.
	CodeAlreadyJoined = "already-joined"
	// CodeRateLimited: the connection sends faster than allowed.
	CodeRateLimited = "rate-limited"
	// CodeUnauthorized: the token is missing, invalid, expired or for another room.
	CodeUnauthorized = "unauthorized"
	// CodeUnavailable: the server cannot reach a backend it needs (e.g. Redis).
	CodeUnavailable = "unavailable"
	// CodeServerShutdown: the server is going away (sent in a bye message).
	CodeServerShutdown = "server-shutdown"
	// CodeSlowConsumer: the client did not read fast enough and was evicted.
	CodeSlowConsumer = "slow-consumer"
	// CodeHandshakeTimeout: no join arrived in time after connecting.
	CodeHandshakeTimeout = "handshake-timeout"
	// CodeInternal: something went wrong on the server; details are in its log.
	CodeInternal = "internal"
	// CodeRoomLimit: the server already holds its maximum number of rooms
	// and cannot open another one; try again later.
	CodeRoomLimit = "room-limit"
	// CodeReplaced: another connection resumed this connection's session
	// (close code CloseReplaced follows). The client must not resume again.
	CodeReplaced = "replaced"
	// CodeOverloaded: the server relays more directed messages than it is
	// configured to (its relay cap) and dropped this one. Sent for the first
	// drop in each 10 s window per connection; not fatal.
	CodeOverloaded = "overloaded"
	// CodeForbidden: the peer's room token does not allow what the message
	// does (an offer or answer that sends audio or video, from a peer whose
	// token has can_publish false); the message was dropped. Not fatal.
	CodeForbidden = "forbidden"
)

// CloseReplaced is the WebSocket close code sent to a connection whose
// session was taken over by a newer connection presenting its resume token
// (for example the same page opened twice). A client that receives it must
// not reconnect with its resume token, or the two would take the session
// from each other in turn.
const CloseReplaced = 4001

// Error is a coded protocol error, sent to clients as an error message.
type Error struct {
	Code    string
	Message string
	Ref     string
}

// Errorf returns an Error with the given code and formatted human message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithRef returns a copy of e naming the message type it answers.
func (e *Error) WithRef(ref string) *Error {
	c := *e
	c.Ref = ref
	return &c
}

// Error implements error.
func (e *Error) Error() string {
	return e.Code + ": " + e.Message
}

// Msg returns e as an error message ready to send.
func (e *Error) Msg() Message {
	return Message{Type: TypeError, Code: e.Code, Message: e.Message, Ref: e.Ref}
}
