// Package proto defines videochat's signalling wire format, protocol v1.
//
// Every message is one JSON object in one WebSocket text frame. The "type"
// field selects the message; the other fields depend on it. The server,
// the native peer and the tests all use these types, so the wire format is
// defined exactly once. See PROTOCOL.md for the prose description and a full
// example exchange.
package proto

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Version is the protocol version spoken by this package. A join message
// carrying any other version is refused with CodeUnsupportedVersion.
const Version = 1

// Message types. Client → server: Join, Offer, Answer, Candidate, Leave.
// Server → client: Welcome, PeerJoined, PeerLeft, Offer, Answer, Candidate,
// Error, Bye.
const (
	TypeJoin       = "join"
	TypeWelcome    = "welcome"
	TypePeerJoined = "peer-joined"
	TypePeerLeft   = "peer-left"
	TypeOffer      = "offer"
	TypeAnswer     = "answer"
	TypeCandidate  = "candidate"
	TypeLeave      = "leave"
	TypeError      = "error"
	TypeBye        = "bye"
)

// Limits shared by the server and clients.
const (
	// MaxNameLen is the longest display name, in characters, after trimming.
	MaxNameLen = 64
	// MaxRoomLen is the longest room name, in bytes.
	MaxRoomLen = 64
	// MaxFrameSize is the default largest WebSocket frame the server reads.
	// Above it the server closes the connection with CloseMessageTooBig (1009).
	MaxFrameSize = 64 << 10
)

// PeerInfo names one peer in a room.
type PeerInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ICEServer is one STUN or TURN server, in the shape of the browser's
// RTCIceServer dictionary.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// ICECandidate is a trickled ICE candidate, in the shape of the browser's
// RTCIceCandidateInit dictionary.
type ICECandidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// Message is the envelope of every signalling message. Only the fields that
// belong to Type are set; the rest are omitted on the wire.
//
// Contract: Type is the FIRST field and never omitted, so Encode's output
// always starts with {"type":"<type>". The server reads the type of frames
// it forwards by that prefix, without decoding them (signal's roster.track
// and outKind, and the relay fast path's splice writes the same prefix).
// TestEncodeStartsWithType fails if a field is put before it.
type Message struct {
	Type string `json:"type"`

	// Join. Token is a signed room token when the server requires one;
	// Resume is the resume token from an earlier welcome, presented to take
	// the same peer id back after a dropped connection.
	Version int    `json:"version,omitempty"`
	Name    string `json:"name,omitempty"`
	Token   string `json:"token,omitempty"`
	Resume  string `json:"resume,omitempty"`

	// Welcome: ID is the receiver's own peer id, Peers those already in Room.
	ID         string      `json:"id,omitempty"`
	Room       string      `json:"room,omitempty"`
	Peers      []PeerInfo  `json:"peers,omitempty"`
	ICEServers []ICEServer `json:"iceServers,omitempty"`
	// Welcome: ResumeToken lets this connection's peer take its id back
	// within Grace seconds of a drop; Resumed says this join did so (the
	// others saw no leave and no join).
	ResumeToken string `json:"resumeToken,omitempty"`
	Grace       int    `json:"grace,omitempty"`
	Resumed     bool   `json:"resumed,omitempty"`
	// Welcome: CanPublish, when present, is the room token's can_publish
	// claim; false asks the client to send no media (advisory: the server
	// does not see media).
	CanPublish *bool `json:"canPublish,omitempty"`

	// PeerJoined carries the newcomer; PeerLeft carries it in Peer too.
	Peer *PeerInfo `json:"peer,omitempty"`

	// Directed messages (offer, answer, candidate). To is set by the sender
	// and names the target; From is set by the server only.
	To        string        `json:"to,omitempty"`
	From      string        `json:"from,omitempty"`
	SDP       string        `json:"sdp,omitempty"`
	Candidate *ICECandidate `json:"candidate,omitempty"`

	// Error and Bye.
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Ref is the type of the client message an error answers, when known.
	Ref string `json:"ref,omitempty"`
}

// IsDirected reports whether messages of type t name a target peer and are
// relayed to it alone.
func IsDirected(t string) bool {
	return t == TypeOffer || t == TypeAnswer || t == TypeCandidate
}

// Decode parses one text frame into a Message. It checks that the frame is
// valid UTF-8, its JSON shape and that the type is known; it does not
// check fields that depend on the connection's state (see Validate).
//
// The UTF-8 check comes first because encoding/json replaces invalid
// bytes inside strings with U+FFFD, after which nothing can tell them
// from a real U+FFFD. (A lone surrogate escape such as "\ud800" is valid
// JSON and decodes to U+FFFD too; CleanName refuses U+FFFD in names.)
//
// A client never sends "from": a frame with a "from" key, whatever its
// value ("" and null included), spelling case or count, is refused, with
// the Message (From as last given) for the caller's logs.
func Decode(data []byte) (Message, *Error) {
	if !utf8.Valid(data) {
		return Message{}, Errorf(CodeBadMessage, "message is not valid UTF-8")
	}
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		return Message{}, Errorf(CodeBadMessage, "message is not a valid JSON object of the expected shape")
	}
	switch m.Type {
	case TypeJoin, TypeOffer, TypeAnswer, TypeCandidate, TypeLeave:
	case "":
		return m, Errorf(CodeBadMessage, "message has no type")
	default:
		ref := m.Type
		if len(ref) > maxRefLen || !utf8.ValidString(ref) {
			ref = "" // do not echo long or broken input back
		}
		return m, Errorf(CodeBadMessage, "unknown message type").WithRef(ref)
	}
	if hasFromKey(data) {
		return m, Errorf(CodeBadMessage, "\"from\" is set by the server, not by clients").WithRef(m.Type)
	}
	return m, nil
}

// maxRefLen is the longest unknown type an error echoes back in its ref.
const maxRefLen = 32

// hasFromKey reports whether the JSON object data, which has decoded into
// a Message, has a "from" key: in any case (encoding/json matches keys so),
// with any value, null and "" included, and however often. Only a frame
// that holds the letters of "from" or an escape that could spell them is
// decoded a second time, so an ordinary frame costs a scan.
func hasFromKey(data []byte) bool {
	if !containsFrom(data) && !bytes.Contains(data, []byte(`\u`)) {
		return false
	}
	var f struct {
		From fromKey `json:"from"`
	}
	return json.Unmarshal(data, &f) == nil && f.From.seen
}

// containsFrom reports whether data holds "from" in any case.
func containsFrom(data []byte) bool {
	for i := 0; i+4 <= len(data); i++ {
		if data[i]|0x20 == 'f' && data[i+1]|0x20 == 'r' && data[i+2]|0x20 == 'o' && data[i+3]|0x20 == 'm' {
			return true
		}
	}
	return false
}

// fromKey notes that a "from" key appeared, whatever its value.
type fromKey struct{ seen bool }

// UnmarshalJSON implements json.Unmarshaler; encoding/json calls it for
// null too.
func (k *fromKey) UnmarshalJSON([]byte) error {
	k.seen = true
	return nil
}

// ValidateClient checks a client message's fields for its type: a join
// needs a supported version and a valid name; a directed message needs a
// target, no From, and its payload. It returns nil when m is acceptable.
func ValidateClient(m *Message) *Error {
	switch m.Type {
	case TypeJoin:
		if m.Version != Version {
			return Errorf(CodeUnsupportedVersion, "this server speaks protocol version 1").WithRef(m.Type)
		}
		name, err := CleanName(m.Name)
		if err != nil {
			return err.WithRef(m.Type)
		}
		m.Name = name
	case TypeOffer, TypeAnswer, TypeCandidate:
		if m.From != "" {
			return Errorf(CodeBadMessage, "\"from\" is set by the server, not by clients").WithRef(m.Type)
		}
		if m.To == "" {
			return Errorf(CodeBadMessage, "directed message needs a \"to\" peer id").WithRef(m.Type)
		}
		if m.Type == TypeCandidate {
			if m.Candidate == nil {
				return Errorf(CodeBadMessage, "candidate message needs a \"candidate\"").WithRef(m.Type)
			}
		} else if m.SDP == "" {
			return Errorf(CodeBadMessage, "offer and answer need an \"sdp\"").WithRef(m.Type)
		}
	}
	return nil
}

// ValidRoom reports whether room is an acceptable room name: 1–64 bytes of
// ASCII letters, digits, '-', '_' and '.', not all dots ("." and ".." are
// path segments, not rooms).
func ValidRoom(room string) bool {
	if room == "" || len(room) > MaxRoomLen || strings.Trim(room, ".") == "" {
		return false
	}
	for i := 0; i < len(room); i++ {
		c := room[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// CleanName trims surrounding space from a display name and checks it: 1–64
// characters of valid UTF-8 on one line, with no control or invisible
// format characters (such as U+202E RIGHT-TO-LEFT OVERRIDE or U+200B ZERO
// WIDTH SPACE, which make look-alike names), no line or paragraph
// separator (U+2028, U+2029) and no U+FFFD REPLACEMENT CHARACTER, which
// is what broken input becomes once decoded: invalid UTF-8 in a room
// token's JSON, or a lone surrogate escape such as "\ud800".
func CleanName(name string) (string, *Error) {
	name = strings.TrimSpace(name)
	if !utf8.ValidString(name) {
		return "", Errorf(CodeBadName, "display name is not valid UTF-8")
	}
	n := utf8.RuneCountInString(name)
	if n == 0 || n > MaxNameLen {
		return "", Errorf(CodeBadName, "display name must be 1 to 64 characters")
	}
	for _, r := range name {
		switch {
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return "", Errorf(CodeBadName, "display name must not contain control or invisible characters")
		case unicode.In(r, unicode.Zl, unicode.Zp):
			return "", Errorf(CodeBadName, "display name must be one line")
		case r == utf8.RuneError:
			return "", Errorf(CodeBadName, "display name must not contain U+FFFD (a lone surrogate or broken UTF-8)")
		}
	}
	return name, nil
}

// Polite reports whether the peer with id self is the polite side of the
// perfect-negotiation pair (self, other): the peer whose id sorts lower is
// polite. Both sides compute the same answer from the two ids.
func Polite(self, other string) bool {
	return self < other
}

// Encode marshals m. Messages built from this package's types always marshal.
// The output starts with {"type":" (see Message).
func Encode(m Message) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		// Only reachable if a future field type cannot marshal.
		panic("proto: encode: " + err.Error())
	}
	return b
}

// Chat travels peer to peer, not through the server: every PeerConnection
// carries one pre-negotiated RTCDataChannel (negotiated: true) with this
// label and id, created by both sides before the first offer. Each message on
// it is a JSON ChatMessage in a text (string) message.
const (
	ChatLabel     = "chat"
	ChatChannelID = 0
)

// ChatMessage is one chat line sent on the chat data channel. The receiver
// knows the sender from the PeerConnection it arrived on and shows the
// sender's display name from the room roster.
type ChatMessage struct {
	Type string `json:"type"` // always "chat"
	Text string `json:"text"`
}
