package redisbackend

import (
	"encoding/json"
	"fmt"

	"github.com/videochat/videochat/signal/proto"
)

// prefix starts every key and channel this package uses. The layout (see
// DESIGN.md) is:
//
//	vc:room:<room>:members  hash  peer id → {"name","node","seq"}
//	vc:room:<room>:seq      int   membership change counter of the room
//	vc:node:<node>:alive    str   presence key with TTL, set by heartbeats
//	vc:node:<node>:peers    set   ["room","id"] of each peer on the node
//	vc:nodes                set   node ids that may hold peers
//	vc:node:<node>          pub/sub channel carrying envelopes to the node
//
// The Lua scripts build the same names from this prefix (see scripts.go).
const prefix = "vc:"

func membersKey(room string) string   { return prefix + "room:" + room + ":members" }
func nodePeersKey(node string) string { return prefix + "node:" + node + ":peers" }
func channelOf(node string) string    { return prefix + "node:" + node }

// Envelope kinds.
const (
	kindDirect    = "d" // Frame for peer To
	kindBroadcast = "b" // Frame for every local peer of Room but Except
	kindJoined    = "j" // Peer joined Room; change number Seq
	kindLeft      = "l" // Peer left Room; change number Seq
)

// envelope is one pub/sub message to a node. Directed and broadcast
// envelopes are built in Go; membership envelopes by the Lua scripts, with
// the change number they made.
type envelope struct {
	Kind   string          `json:"k"`
	Room   string          `json:"r"`
	To     string          `json:"t,omitempty"`
	Except string          `json:"x,omitempty"`
	Seq    int64           `json:"s,omitempty"`
	Peer   *proto.PeerInfo `json:"p,omitempty"`
	Frame  []byte          `json:"f,omitempty"`
}

func (e envelope) encode() string {
	b, err := json.Marshal(e)
	if err != nil {
		panic("redisbackend: encode envelope: " + err.Error()) // only strings and bytes
	}
	return string(b)
}

func decodeEnvelope(s string) (envelope, error) {
	var e envelope
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		return e, fmt.Errorf("decode envelope: %w", err)
	}
	if e.Room == "" || ((e.Kind == kindJoined || e.Kind == kindLeft) && e.Peer == nil) {
		return e, fmt.Errorf("decode envelope: incomplete %q envelope", e.Kind)
	}
	return e, nil
}

// member is the value of one field of a room's members hash.
type member struct {
	Name string `json:"name"`
	Node string `json:"node"`
	Seq  int64  `json:"seq"`
}

// memberFrame is the peer-joined or peer-left message for a membership
// envelope.
func memberFrame(kind string, p proto.PeerInfo) []byte {
	t := proto.TypePeerJoined
	if kind == kindLeft {
		t = proto.TypePeerLeft
	}
	return proto.Encode(proto.Message{Type: t, Peer: &p})
}
