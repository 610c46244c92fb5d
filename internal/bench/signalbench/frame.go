package signalbench

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/videochat/videochat/internal/wstest"
	"github.com/videochat/videochat/signal/proto"
)

// The load generator writes WebSocket frames itself instead of going through
// a JSON encoder and gorilla's writer: each peer has one pre-encoded client
// frame (masked with the all-zero key, which RFC 6455 allows and which
// leaves the payload as is) whose send timestamp is patched in place, so
// sending a message is a copy, 19 digits and a share of one write(2).

// tsDigits is the fixed width of the timestamp written into each message.
const tsDigits = 19

// tsMarker precedes the timestamp in the candidate text, both in what the
// generator sends and in what the server relays.
var tsMarker = []byte(`"candidate":"bench `)

// template is one peer's pre-encoded directed candidate frame.
type template struct {
	frame []byte
	tsOff int // offset of the timestamp digits in frame
}

// newCandidateTemplate encodes a candidate message to peer to.
func newCandidateTemplate(to string) template {
	mid := "0"
	m := proto.Message{Type: proto.TypeCandidate, To: to, Candidate: &proto.ICECandidate{
		Candidate: "bench " + string(bytes.Repeat([]byte{'0'}, tsDigits)) + " udp 2130706431 127.0.0.1 9 typ host",
		SDPMid:    &mid,
	}}
	payload := proto.Encode(m)
	frame := wstest.ClientFrame(nil, payload)
	at := bytes.Index(frame, tsMarker)
	return template{frame: frame, tsOff: at + len(tsMarker)}
}

// appendStamped appends t's frame with timestamp ts to dst.
func (t *template) appendStamped(dst []byte, ts int64) []byte {
	start := len(dst)
	dst = append(dst, t.frame...)
	putDigits(dst[start+t.tsOff:start+t.tsOff+tsDigits], uint64(ts))
	return dst
}

// putDigits writes v as zero-padded decimal filling b.
func putDigits(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
}

// stampOf finds the timestamp in a relayed candidate frame.
func stampOf(payload []byte) (int64, bool) {
	at := bytes.Index(payload, tsMarker)
	if at < 0 || len(payload) < at+len(tsMarker)+tsDigits {
		return 0, false
	}
	digits := payload[at+len(tsMarker) : at+len(tsMarker)+tsDigits]
	var v int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// frameKind is the type of a server frame, found without decoding it all.
type frameKind int

const (
	kindOther frameKind = iota
	kindCandidate
	kindWelcome
	kindError
)

var (
	prefixCandidate = []byte(`{"type":"candidate"`)
	prefixWelcome   = []byte(`{"type":"welcome"`)
	prefixError     = []byte(`{"type":"error"`)
)

// kindOf classifies a server frame by its leading type field (the server
// encodes "type" first). Anything else falls back to a JSON decode.
func kindOf(payload []byte) frameKind {
	switch {
	case bytes.HasPrefix(payload, prefixCandidate):
		return kindCandidate
	case bytes.HasPrefix(payload, prefixWelcome):
		return kindWelcome
	case bytes.HasPrefix(payload, prefixError):
		return kindError
	}
	var m struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(payload, &m) == nil {
		switch m.Type {
		case proto.TypeCandidate:
			return kindCandidate
		case proto.TypeWelcome:
			return kindWelcome
		case proto.TypeError:
			return kindError
		}
	}
	return kindOther
}

// joinFrame is the client frame of a join message for peer index i.
func joinFrame(i int) []byte {
	m := proto.Message{Type: proto.TypeJoin, Version: proto.Version, Name: "bench-" + strconv.Itoa(i)}
	return wstest.ClientFrame(nil, proto.Encode(m))
}
