package signal

import (
	"strconv"
	"unicode/utf8"

	"github.com/videochat/videochat/signal/proto"
)

// The fast path relays a directed message without decoding it into a
// proto.Message and encoding it again. scanDirected checks the frame
// strictly and accepts only the plain shape every client sends:
//
//	{"type":"offer"|"answer","to":"…","sdp":"…"}
//	{"type":"candidate","to":"…","candidate":{"candidate":"…","sdpMid":"…"|null,
//	 "sdpMLineIndex":0..65535|null,"usernameFragment":"…"|null}}
//
// with the members in any order and any JSON whitespace, each member at
// most once, keys spelled exactly so, every string valid JSON and valid
// UTF-8 (no escaped surrogates), "to" without escapes and not empty, and
// "sdp" not empty. Anything else (a "from", an unknown or duplicate key, a
// key in another case, a number in another form, null where a value is
// needed, invalid JSON, …) is not accepted, and the frame takes the full
// path (proto.Decode, proto.ValidateClient, proto.Encode), which accepts,
// rejects and answers exactly as before. For every frame the fast path
// accepts, the full path would accept it too and the frame splice builds
// decodes to the same message the full path would have sent;
// FuzzFastPathAgrees checks both.

// span is a byte range [start, end) of a frame.
type span struct{ start, end int }

// directed is what scanDirected found in a frame.
type directed struct {
	typ  string // proto.TypeOffer, TypeAnswer or TypeCandidate
	kind int    // its messages_in_total kind
	to   []byte // the target id, raw (it has no escapes)
	// members are the members other than "type", key to value, in order.
	members [3]span
	n       int
}

// member keys the fast path knows.
const (
	keyType = 1 << iota
	keyTo
	keySDP
	keyCandidate
)

// scanDirected checks data as described above and reports whether the
// fast path may relay it.
func scanDirected(data []byte) (d directed, ok bool) {
	s := scanner{data: data}
	s.ws()
	seen, ok := s.object(func(key []byte, start int) (bit int, ok bool) {
		switch string(key) {
		case "type": // one of the three directed types, named in inKindNames
			v, ok := s.plainString()
			for k := inOffer; ok && k <= inCandidate; k++ {
				if string(v) == inKindNames[k] {
					d.typ, d.kind = inKindNames[k], k
					return keyType, true
				}
			}
			return keyType, false
		case "to":
			d.to, ok = s.plainString()
			bit, ok = keyTo, ok && len(d.to) > 0
		case "sdp":
			var raw []byte
			raw, ok = s.jsonString()
			bit, ok = keySDP, ok && len(raw) > 0
		case "candidate":
			bit, ok = keyCandidate, s.candidate()
		default:
			return 0, false
		}
		if d.n < len(d.members) { // a fourth is a duplicate, which object refuses
			d.members[d.n] = span{start, s.i}
			d.n++
		}
		return bit, ok
	})
	s.ws()
	if !ok || s.i != len(data) {
		return d, false
	}
	want := keyType | keyTo | keySDP
	if d.typ == proto.TypeCandidate {
		want = keyType | keyTo | keyCandidate
	}
	return d, seen == want
}

// appendSplice appends the frame relayed to the target to out: the type,
// the sender's id as "from", then the client's other members as they came.
func (d *directed) appendSplice(out, data []byte, from string) []byte {
	out = append(out, `{"type":"`...)
	out = append(out, d.typ...)
	out = append(out, `","from":"`...)
	out = append(out, from...) // peer ids are hex: nothing to escape
	out = append(out, '"')
	for _, m := range d.members[:d.n] {
		out = append(out, ',')
		out = append(out, data[m.start:m.end]...)
	}
	return append(out, '}')
}

// scanner walks a JSON text. Its methods advance i past what they accept;
// after a failure i is meaningless (the caller gives up).
type scanner struct {
	data []byte
	i    int
}

// ws skips JSON whitespace.
func (s *scanner) ws() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// byte consumes b if it comes next.
func (s *scanner) byte(b byte) bool {
	if s.i < len(s.data) && s.data[s.i] == b {
		s.i++
		return true
	}
	return false
}

// literal consumes lit if it comes next.
func (s *scanner) literal(lit string) bool {
	if len(s.data)-s.i >= len(lit) && string(s.data[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// plainString reads a string without escapes and returns its content.
func (s *scanner) plainString() ([]byte, bool) {
	raw, ok := s.jsonString()
	if !ok {
		return nil, false
	}
	for _, b := range raw {
		if b == '\\' {
			return nil, false
		}
	}
	return raw, true
}

// jsonString reads a JSON string and returns its raw content (between the
// quotes, escapes not decoded). It refuses control characters, invalid
// escapes, escaped surrogates and invalid UTF-8.
func (s *scanner) jsonString() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.data) {
		b := s.data[s.i]
		switch {
		case b == '"':
			s.i++
			return s.data[start : s.i-1], true
		case b < 0x20:
			return nil, false
		case b == '\\':
			if !s.escape() {
				return nil, false
			}
		case b < utf8.RuneSelf:
			s.i++
		default:
			r, size := utf8.DecodeRune(s.data[s.i:])
			if r == utf8.RuneError && size == 1 {
				return nil, false
			}
			s.i += size
		}
	}
	return nil, false
}

// escape reads one escape sequence, the backslash included.
func (s *scanner) escape() bool {
	if s.i+1 >= len(s.data) {
		return false
	}
	switch s.data[s.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.i += 2
		return true
	case 'u':
		if s.i+6 > len(s.data) {
			return false
		}
		r, err := strconv.ParseUint(string(s.data[s.i+2:s.i+6]), 16, 16)
		if err != nil || r >= 0xD800 && r <= 0xDFFF {
			return false // not four hex digits, or a surrogate: the full path decides
		}
		s.i += 6
		return true
	}
	return false
}

// Members of a candidate object.
const (
	candCandidate = 1 << iota
	candMid
	candMLine
	candUfrag
)

// candidate reads an ICE candidate object.
func (s *scanner) candidate() bool {
	_, ok := s.object(func(key []byte, _ int) (int, bool) {
		switch string(key) {
		case "candidate":
			return candCandidate, s.stringOK()
		case "sdpMid":
			return candMid, s.literal("null") || s.stringOK()
		case "sdpMLineIndex":
			return candMLine, s.literal("null") || s.uint16()
		case "usernameFragment":
			return candUfrag, s.literal("null") || s.stringOK()
		}
		return 0, false
	})
	return ok
}

// object reads a JSON object. For each member it reads the key and the
// colon and calls member with the key and the offset where the member
// starts; member reads the value and returns the key's bit (0: a key not
// allowed) and whether it accepted the value. object refuses a key that
// comes twice, and returns the bits of the keys it saw.
func (s *scanner) object(member func(key []byte, start int) (bit int, ok bool)) (seen int, ok bool) {
	if !s.byte('{') {
		return 0, false
	}
	s.ws()
	if s.byte('}') {
		return 0, true
	}
	for {
		s.ws()
		start := s.i
		key, ok := s.plainString()
		s.ws()
		if !ok || !s.byte(':') {
			return 0, false
		}
		s.ws()
		bit, ok := member(key, start)
		if !ok || bit == 0 || seen&bit != 0 {
			return 0, false
		}
		seen |= bit
		s.ws()
		if s.byte('}') {
			return seen, true
		}
		if !s.byte(',') {
			return 0, false
		}
	}
}

func (s *scanner) stringOK() bool {
	_, ok := s.jsonString()
	return ok
}

// uint16 reads a JSON integer from 0 to 65535 in plain form (no sign,
// fraction, exponent or leading zero).
func (s *scanner) uint16() bool {
	start := s.i
	for s.i < len(s.data) && s.data[s.i] >= '0' && s.data[s.i] <= '9' {
		s.i++
	}
	digits := s.data[start:s.i]
	if _, err := strconv.ParseUint(string(digits), 10, 16); err != nil || (len(digits) > 1 && digits[0] == '0') {
		return false
	}
	return s.i == len(s.data) || (s.data[s.i] != '.' && s.data[s.i] != 'e' && s.data[s.i] != 'E')
}

// spliceDirected scans data for the fast path and, if it qualifies,
// returns its type, messages_in_total kind and target, and the frame to
// relay, from self, in *out. It is kept out of line so that its stack frame (the
// scan's state) is gone before relay goes down the delivery path.
//
//go:noinline
func spliceDirected(data []byte, self string, out *[]byte) (typ string, kind int, to string, ok bool) {
	d, ok := scanDirected(data)
	if !ok {
		return "", 0, "", false
	}
	*out = d.appendSplice((*out)[:0], data, self)
	return d.typ, d.kind, string(d.to), true
}
