package signal

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/videochat/videochat/signal/proto"
)

// fullPath is what the server does with a directed frame without the fast
// path: decode, validate, and the message it relays (nil when refused).
func fullPath(data []byte, from string) *proto.Message {
	m, perr := proto.Decode(data)
	if perr != nil || !proto.IsDirected(m.Type) || proto.ValidateClient(&m) != nil {
		return nil
	}
	return &proto.Message{Type: m.Type, From: from, To: m.To, SDP: m.SDP, Candidate: m.Candidate}
}

const fastFrom = "0123456789abcdef"

// checkAgrees fails if the fast path accepts data and the full path does
// not, or if what splice builds differs from what the full path relays.
func checkAgrees(t *testing.T, data []byte) (accepted bool) {
	t.Helper()
	d, ok := scanDirected(data)
	if !ok {
		return false
	}
	want := fullPath(data, fastFrom)
	if want == nil {
		t.Fatalf("fast path accepts %q, full path refuses it", data)
	}
	if string(d.to) != want.To || d.typ != want.Type {
		t.Fatalf("fast path read type %q to %q from %q, full path %q %q", d.typ, d.to, data, want.Type, want.To)
	}
	out := d.appendSplice(nil, data, fastFrom)
	var got proto.Message
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("splice of %q is not JSON: %q: %v", data, out, err)
	}
	if !reflect.DeepEqual(got, *want) {
		t.Fatalf("splice of %q relays\n%+v\nfull path relays\n%+v", data, got, *want)
	}
	if !strings.HasPrefix(string(out), `{"type":"`+want.Type+`","from":"`+fastFrom+`"`) {
		t.Fatalf("splice %q does not start with type and from", out)
	}
	return true
}

func TestFastPath(t *testing.T) {
	cases := []struct {
		in   string
		fast bool
	}{
		{`{"type":"offer","to":"p2","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}`, true},
		{`{"type":"answer","to":"p1","sdp":"v=0"}`, true},
		{` {"to":"p1" , "sdp" : "x\u00e9\/" ,"type":"answer"} ` + "\n", true},
		{`{"type":"candidate","to":"p1","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"uf"}}`, true},
		{`{"type":"candidate","to":"p1","candidate":{"candidate":"","sdpMid":null,"sdpMLineIndex":null,"usernameFragment":null}}`, true},
		{`{"type":"candidate","to":"p1","candidate":{}}`, true},
		{`{"type":"candidate","to":"p1","candidate":{"sdpMLineIndex":65535}}`, true},
		{`{"type":"offer","to":"Zoë","sdp":"🎥"}`, true},
		// Everything else takes the full path.
		{`{"type":"offer","to":"p2","sdp":"v=0","from":"p3"}`, false},    // spoofed from
		{`{"type":"offer","to":"p2","sdp":"v=0","From":"p3"}`, false},    // other case
		{`{"type":"offer","to":"p2","sdp":"v=0","extra":1}`, false},      // unknown key
		{`{"type":"offer","to":"p2","to":"p3","sdp":"v=0"}`, false},      // duplicate
		{`{"type":"offer","to":"p2","sdp":""}`, false},                   // empty sdp
		{`{"type":"offer","to":"","sdp":"x"}`, false},                    // empty target
		{`{"type":"offer","sdp":"x"}`, false},                            // no target
		{`{"type":"offer","to":"p\u0032","sdp":"x"}`, false},             // escaped target
		{`{"type":"offer","to":"p2","sdp":"x","candidate":{}}`, false},   // both payloads
		{`{"type":"candidate","to":"p2","sdp":"x"}`, false},              // wrong payload
		{`{"type":"candidate","to":"p2","candidate":null}`, false},       // null payload
		{`{"type":"offer","to":5,"sdp":"x"}`, false},                     // wrong type
		{`{"type":"offer","to":"p2","sdp":"x"}x`, false},                 // trailing bytes
		{`{"type":"offer","to":"p2","sdp":"x",}`, false},                 // trailing comma
		{`{"type":"join","version":1,"name":"A"}`, false},                // not directed
		{`{"type":"offer","to":"p2","sdp":"\ud83c"}`, false},             // lone surrogate
		{"{\"type\":\"offer\",\"to\":\"p2\",\"sdp\":\"a\xffb\"}", false}, // invalid UTF-8
		{"{\"type\":\"offer\",\"to\":\"p2\",\"sdp\":\"a\x01b\"}", false}, // control char
		{`{"type":"candidate","to":"p","candidate":{"sdpMLineIndex":65536}}`, false},
		{`{"type":"candidate","to":"p","candidate":{"sdpMLineIndex":-1}}`, false},
		{`{"type":"candidate","to":"p","candidate":{"sdpMLineIndex":1e2}}`, false},
		{`{"type":"candidate","to":"p","candidate":{"sdpMLineIndex":01}}`, false},
		{`{"type":"candidate","to":"p","candidate":{"sdpMid":0}}`, false},
		{`{"type":"candidate","to":"p","candidate":{"x":1}}`, false},
		{`{"type":"candidate","to":"p","candidate":{"candidate":"a","candidate":"b"}}`, false},
		{`{"type":"offer","to":"p2","ſdp":"x"}`, false}, // encoding/json would fold this key
	}
	for _, tc := range cases {
		if got := checkAgrees(t, []byte(tc.in)); got != tc.fast {
			t.Errorf("fast path on %s: %v, want %v", tc.in, got, tc.fast)
		}
	}
}

// FuzzFastPathAgrees: whatever the fast path accepts, the full path
// accepts too and relays the same message.
func FuzzFastPathAgrees(f *testing.F) {
	for _, s := range []string{
		`{"type":"offer","to":"p2","sdp":"v=0\r\n"}`,
		`{"type":"candidate","to":"p1","candidate":{"candidate":"c","sdpMid":"0","sdpMLineIndex":1,"usernameFragment":null}}`,
		`{"to":"a","type":"answer","sdp":"\u0041\"\\"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkAgrees(t, data) })
}
