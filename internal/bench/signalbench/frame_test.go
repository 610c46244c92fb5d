package signalbench

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/videochat/videochat/signal/proto"
)

func TestTemplateStamp(t *testing.T) {
	tm := newCandidateTemplate("peer-1")
	frame := tm.appendStamped([]byte("xx"), 1234567890123)
	frame = frame[2:]
	// Header: FIN+text, masked, 7-bit or 16-bit length, zero key.
	if frame[0] != 0x81 || frame[1]&0x80 == 0 {
		t.Fatalf("header % x", frame[:2])
	}
	hdr := 2 + 4
	n := int(frame[1] & 0x7f)
	if n == 126 {
		n, hdr = int(binary.BigEndian.Uint16(frame[2:])), 4+4
	}
	payload := frame[hdr:]
	if len(payload) != n {
		t.Fatalf("payload %d bytes, header says %d", len(payload), n)
	}
	m, perr := proto.Decode(payload)
	if perr != nil || proto.ValidateClient(&m) != nil || m.To != "peer-1" {
		t.Fatalf("decoded %+v, %v", m, perr)
	}
	// The server re-encodes with from set; the stamp must survive.
	out := proto.Encode(proto.Message{Type: m.Type, From: "peer-0", To: m.To, Candidate: m.Candidate})
	if ts, ok := stampOf(out); !ok || ts != 1234567890123 {
		t.Errorf("stamp = %d, %v", ts, ok)
	}
	if kindOf(out) != kindCandidate {
		t.Error("relayed candidate not recognised")
	}
	if tm.frame[tm.tsOff] != '0' || bytes.Contains(tm.frame, []byte("1234567890123")) {
		t.Error("stamping changed the template")
	}
}

func TestKindOf(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want frameKind
	}{
		{`{"type":"welcome","id":"a"}`, kindWelcome},
		{`{"type":"error","code":"rate-limited"}`, kindError},
		{`{"type":"peer-joined","peer":{"id":"b"}}`, kindOther},
		{`{"from":"a","type":"candidate"}`, kindCandidate},
		{`not json`, kindOther},
	} {
		if got := kindOf([]byte(tc.in)); got != tc.want {
			t.Errorf("kindOf(%s) = %v, want %v", tc.in, got, tc.want)
		}
	}
	var m map[string]any
	if json.Unmarshal(joinFrame(3)[6:], &m) != nil || m["name"] != "bench-3" {
		t.Errorf("join frame payload %v", m)
	}
}
