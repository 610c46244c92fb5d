package proto_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/videochat/videochat/signal/proto"
)

// knownCodes returns the values of every Code* constant declared in
// errors.go, read from the source so the list cannot drift.
func knownCodes(t testing.TB) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatalf("parse errors.go: %v", err)
	}
	codes := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 || !strings.HasPrefix(vs.Names[0].Name, "Code") {
			return true
		}
		if lit, ok := vs.Values[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			v, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatalf("%s: %v", vs.Names[0].Name, err)
			}
			codes[v] = true
		}
		return true
	})
	return codes
}

func TestKnownCodes(t *testing.T) {
	codes := knownCodes(t)
	for _, c := range []string{proto.CodeBadMessage, proto.CodeBadName, proto.CodeUnsupportedVersion,
		proto.CodeUnauthorized, proto.CodeInternal, proto.CodeServerShutdown} {
		if !codes[c] {
			t.Errorf("code %q missing from parsed errors.go (%d codes found)", c, len(codes))
		}
	}
	if len(codes) < 15 {
		t.Errorf("parsed only %d codes from errors.go", len(codes))
	}
}

func u16(v uint16) *uint16 { return &v }
func str(s string) *string { return &s }

func TestDecodeAccepts(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want proto.Message
	}{
		{"join", `{"type":"join","version":1,"name":"Alice"}`,
			proto.Message{Type: "join", Version: 1, Name: "Alice"}},
		{"offer", `{"type":"offer","to":"p2","sdp":"v=0\r\n"}`,
			proto.Message{Type: "offer", To: "p2", SDP: "v=0\r\n"}},
		{"answer", `{"type":"answer","to":"p1","sdp":"v=0"}`,
			proto.Message{Type: "answer", To: "p1", SDP: "v=0"}},
		{"candidate full", `{"type":"candidate","to":"p1","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"uf"}}`,
			proto.Message{Type: "candidate", To: "p1", Candidate: &proto.ICECandidate{
				Candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host", SDPMid: str("0"), SDPMLineIndex: u16(0), UsernameFragment: str("uf")}}},
		{"candidate end-of-candidates", `{"type":"candidate","to":"p1","candidate":{"candidate":""}}`,
			proto.Message{Type: "candidate", To: "p1", Candidate: &proto.ICECandidate{}}},
		{"candidate null fields", `{"type":"candidate","to":"p1","candidate":{"candidate":"c","sdpMid":null,"sdpMLineIndex":null}}`,
			proto.Message{Type: "candidate", To: "p1", Candidate: &proto.ICECandidate{Candidate: "c"}}},
		{"sdpMLineIndex max", `{"type":"candidate","to":"p","candidate":{"candidate":"c","sdpMLineIndex":65535}}`,
			proto.Message{Type: "candidate", To: "p", Candidate: &proto.ICECandidate{Candidate: "c", SDPMLineIndex: u16(65535)}}},
		{"leave", `{"type":"leave"}`, proto.Message{Type: "leave"}},
		{"unknown fields ignored", `{"type":"leave","extra":{"deep":[1,{"x":null}]},"n":1e999999}`, proto.Message{Type: "leave"}},
		{"whitespace around", " \n\t{\"type\":\"leave\"}\r\n ", proto.Message{Type: "leave"}},
		{"escaped type", `{"type":"\u006aoin","version":1,"name":"A"}`, proto.Message{Type: "join", Version: 1, Name: "A"}},
		{"unicode name", `{"type":"join","version":1,"name":"Zoë 🎥 李"}`, proto.Message{Type: "join", Version: 1, Name: "Zoë 🎥 李"}},
		{"lone surrogate escape replaced", `{"type":"join","version":1,"name":"a\ud800b"}`,
			proto.Message{Type: "join", Version: 1, Name: "a\uFFFDb"}},
		{"duplicate key, last wins", `{"type":"offer","to":"a","to":"b","sdp":"s"}`, proto.Message{Type: "offer", To: "b", SDP: "s"}},
		{"version negative", `{"type":"join","version":-1}`, proto.Message{Type: "join", Version: -1}},
		{"version huge but fits int64", `{"type":"join","version":9223372036854775807}`,
			proto.Message{Type: "join", Version: 9223372036854775807}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := proto.Decode([]byte(tc.in))
			if err != nil {
				t.Fatalf("Decode(%s): %v", tc.in, err)
			}
			if !reflect.DeepEqual(m, tc.want) {
				t.Errorf("Decode(%s) = %+v, want %+v", tc.in, m, tc.want)
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	cases := []struct {
		name string
		in   string
		ref  string // expected Ref of the error
	}{
		{"empty", ``, ""},
		{"whitespace", "  \n", ""},
		{"null", `null`, ""},
		{"empty object", `{}`, ""},
		{"empty type", `{"type":""}`, ""},
		{"array", `[{"type":"leave"}]`, ""},
		{"string", `"leave"`, ""},
		{"number", `5`, ""},
		{"truncated", `{"type":"join","version":1,"name":"A"`, ""},
		{"trailing garbage", `{"type":"leave"}x`, ""},
		{"two objects", `{"type":"leave"}{"type":"leave"}`, ""},
		{"single quotes", `{'type':'leave'}`, ""},
		{"type is a number", `{"type":1}`, ""},
		{"type is null-ish object", `{"type":{"type":"join"}}`, ""},
		{"type is array", `{"type":["join"]}`, ""},
		{"to is a number", `{"type":"offer","to":5}`, ""},
		{"sdp is an object", `{"type":"offer","to":"p","sdp":{"v":0}}`, ""},
		{"version is a string", `{"type":"join","version":"1","name":"A"}`, ""},
		{"version is fractional", `{"type":"join","version":1.5,"name":"A"}`, ""},
		{"version overflows int64", `{"type":"join","version":9223372036854775808,"name":"A"}`, ""},
		{"version 1e400", `{"type":"join","version":1e400,"name":"A"}`, ""},
		{"name is a number", `{"type":"join","version":1,"name":42}`, ""},
		{"name is null-ish array", `{"type":"join","version":1,"name":[]}`, ""},
		{"candidate is a string", `{"type":"candidate","to":"p","candidate":"candidate:1"}`, ""},
		{"nested candidate garbage", `{"type":"candidate","to":"p","candidate":{"candidate":{"x":[1,2,{"y":null}]}}}`, ""},
		{"sdpMLineIndex negative", `{"type":"candidate","to":"p","candidate":{"candidate":"c","sdpMLineIndex":-1}}`, ""},
		{"sdpMLineIndex 65536", `{"type":"candidate","to":"p","candidate":{"candidate":"c","sdpMLineIndex":65536}}`, ""},
		{"sdpMLineIndex huge", `{"type":"candidate","to":"p","candidate":{"candidate":"c","sdpMLineIndex":1e30}}`, ""},
		{"sdpMid is a number", `{"type":"candidate","to":"p","candidate":{"candidate":"c","sdpMid":0}}`, ""},
		{"peers is an object", `{"type":"leave","peers":{"id":"x"}}`, ""},
		{"peer is a string", `{"type":"leave","peer":"x"}`, ""},
		{"invalid escape", `{"type":"le\ave"}`, ""},
		{"control char in string", "{\"type\":\"leave\",\"name\":\"a\x01b\"}", ""},
		{"unknown type", `{"type":"hello"}`, "hello"},
		{"type in wrong case", `{"type":"JOIN","version":1,"name":"A"}`, "JOIN"},
		{"server-only welcome", `{"type":"welcome","id":"x"}`, "welcome"},
		{"server-only error", `{"type":"error","code":"internal"}`, "error"},
		{"server-only bye", `{"type":"bye"}`, "bye"},
		{"server-only peer-joined", `{"type":"peer-joined","peer":{"id":"a","name":"b"}}`, "peer-joined"},
		{"chat is not a signalling type", `{"type":"chat","text":"hi"}`, "chat"},
		{"invalid UTF-8 in a string", "{\"type\":\"join\",\"version\":1,\"name\":\"a\xff\xfeb\"}", ""},
		{"invalid UTF-8 outside strings", "{\"type\":\"leave\"}\xff", ""},
		{"UTF-8 encoded surrogate", "{\"type\":\"join\",\"version\":1,\"name\":\"a\xed\xa0\x80b\"}", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := proto.Decode([]byte(tc.in))
			if err == nil {
				t.Fatalf("Decode(%q) accepted", tc.in)
			}
			if err.Code != proto.CodeBadMessage || err.Message == "" {
				t.Errorf("Decode(%q) error = %+v, want code %q with a message", tc.in, err, proto.CodeBadMessage)
			}
			if err.Ref != tc.ref {
				t.Errorf("Decode(%q) ref = %q, want %q", tc.in, err.Ref, tc.ref)
			}
		})
	}
}

// Decode must not leak Go's JSON error text (field names, offsets, types)
// into the client-facing message.
func TestDecodeErrorHidesInternals(t *testing.T) {
	_, err := proto.Decode([]byte(`{"type":"offer","to":5}`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, leak := range []string{"json", "Go value", "proto.Message", "unmarshal", "offset"} {
		if strings.Contains(err.Message, leak) {
			t.Errorf("error message %q contains %q", err.Message, leak)
		}
	}
}

func TestValidateClient(t *testing.T) {
	cand := &proto.ICECandidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host"}
	cases := []struct {
		name     string
		m        proto.Message
		code     string // "" = accepted
		wantName string // for accepted joins: the cleaned name
	}{
		{"join", proto.Message{Type: "join", Version: 1, Name: "Alice"}, "", "Alice"},
		{"join trims name", proto.Message{Type: "join", Version: 1, Name: " \t Alice \n"}, "", "Alice"},
		{"join trims unicode space", proto.Message{Type: "join", Version: 1, Name: "\u00a0Alice\u3000"}, "", "Alice"},
		{"join 64 runes", proto.Message{Type: "join", Version: 1, Name: strings.Repeat("🎥", 64)}, "", strings.Repeat("🎥", 64)},
		{"join version 0", proto.Message{Type: "join", Name: "Alice"}, proto.CodeUnsupportedVersion, ""},
		{"join version 2", proto.Message{Type: "join", Version: 2, Name: "Alice"}, proto.CodeUnsupportedVersion, ""},
		{"join version -1", proto.Message{Type: "join", Version: -1, Name: "Alice"}, proto.CodeUnsupportedVersion, ""},
		{"join bad version wins over bad name", proto.Message{Type: "join", Version: 7}, proto.CodeUnsupportedVersion, ""},
		{"join no name", proto.Message{Type: "join", Version: 1}, proto.CodeBadName, ""},
		{"join blank name", proto.Message{Type: "join", Version: 1, Name: "   "}, proto.CodeBadName, ""},
		{"join 65 runes", proto.Message{Type: "join", Version: 1, Name: strings.Repeat("é", 65)}, proto.CodeBadName, ""},
		{"join control char", proto.Message{Type: "join", Version: 1, Name: "Al\x00ice"}, proto.CodeBadName, ""},
		{"join invalid UTF-8", proto.Message{Type: "join", Version: 1, Name: "Al\xffice"}, proto.CodeBadName, ""},
		{"offer", proto.Message{Type: "offer", To: "p2", SDP: "v=0"}, "", ""},
		{"answer", proto.Message{Type: "answer", To: "p2", SDP: "v=0"}, "", ""},
		{"candidate", proto.Message{Type: "candidate", To: "p2", Candidate: cand}, "", ""},
		{"candidate end-of-candidates", proto.Message{Type: "candidate", To: "p2", Candidate: &proto.ICECandidate{}}, "", ""},
		{"offer spoofed from", proto.Message{Type: "offer", To: "p2", From: "p3", SDP: "v=0"}, proto.CodeBadMessage, ""},
		{"answer spoofed from", proto.Message{Type: "answer", To: "p2", From: "p2", SDP: "v=0"}, proto.CodeBadMessage, ""},
		{"candidate spoofed from", proto.Message{Type: "candidate", To: "p2", From: "x", Candidate: cand}, proto.CodeBadMessage, ""},
		{"offer no target", proto.Message{Type: "offer", SDP: "v=0"}, proto.CodeBadMessage, ""},
		{"answer no target", proto.Message{Type: "answer", SDP: "v=0"}, proto.CodeBadMessage, ""},
		{"candidate no target", proto.Message{Type: "candidate", Candidate: cand}, proto.CodeBadMessage, ""},
		{"offer no sdp", proto.Message{Type: "offer", To: "p2"}, proto.CodeBadMessage, ""},
		{"answer no sdp", proto.Message{Type: "answer", To: "p2"}, proto.CodeBadMessage, ""},
		{"candidate no candidate", proto.Message{Type: "candidate", To: "p2", SDP: "v=0"}, proto.CodeBadMessage, ""},
		{"leave", proto.Message{Type: "leave"}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			err := proto.ValidateClient(&m)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("ValidateClient(%+v) = %v", tc.m, err)
				}
				if m.Name != tc.wantName {
					t.Errorf("name after validation = %q, want %q", m.Name, tc.wantName)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateClient(%+v) accepted", tc.m)
			}
			if err.Code != tc.code || err.Ref != tc.m.Type || err.Message == "" {
				t.Errorf("ValidateClient(%+v) = %+v, want code %q ref %q", tc.m, err, tc.code, tc.m.Type)
			}
			if m.Name != tc.m.Name {
				t.Errorf("refused message was modified: name %q → %q", tc.m.Name, m.Name)
			}
		})
	}
}

// A join whose name is broken input never passes: raw invalid UTF-8 is
// refused by Decode, before encoding/json could turn it into U+FFFD; a lone
// surrogate escape, which JSON allows and which decodes to U+FFFD, and
// line separators are refused by ValidateClient as bad-name.
func TestJoinBrokenName(t *testing.T) {
	for _, tc := range []struct {
		in, code string
	}{
		{"{\"type\":\"join\",\"version\":1,\"name\":\"a\xff\xfeb\"}", proto.CodeBadMessage},
		{`{"type":"join","version":1,"name":"a\ud800b"}`, proto.CodeBadName},
		{`{"type":"join","version":1,"name":"a\udc00b"}`, proto.CodeBadName},
		{`{"type":"join","version":1,"name":"a\ud800\u0041"}`, proto.CodeBadName},
		{`{"type":"join","version":1,"name":"a\u2028b"}`, proto.CodeBadName},
		{"{\"type\":\"join\",\"version\":1,\"name\":\"a\u2029b\"}", proto.CodeBadName},
	} {
		m, err := proto.Decode([]byte(tc.in))
		if err == nil {
			err = proto.ValidateClient(&m)
		}
		if err == nil || err.Code != tc.code {
			t.Errorf("%q: error %v, want %s", tc.in, err, tc.code)
		}
	}
	// A surrogate pair escape is a real character.
	m, err := proto.Decode([]byte(`{"type":"join","version":1,"name":"\ud83c\udfa5"}`))
	if err == nil {
		err = proto.ValidateClient(&m)
	}
	if err != nil || m.Name != "🎥" {
		t.Errorf("surrogate pair: %q, %v; want 🎥", m.Name, err)
	}
}

// Decode refuses a client's "from" whatever its spelling (encoding/json
// matches keys case-insensitively), value or count: a client never sends
// "from".
func TestSpoofedFromAnyCase(t *testing.T) {
	for _, key := range []string{"from", "From", "FROM", "fRoM"} {
		in := `{"type":"offer","to":"p2","sdp":"v=0","` + key + `":"p3"}`
		m, err := proto.Decode([]byte(in))
		if err == nil {
			err = proto.ValidateClient(&m)
		}
		if err == nil || err.Code != proto.CodeBadMessage {
			t.Errorf("%s: error = %v, want %s", in, err, proto.CodeBadMessage)
		}
	}
	for _, in := range []string{
		`{"type":"offer","to":"p2","sdp":"v=0","from":""}`,
		`{"type":"offer","to":"p2","sdp":"v=0","from":null}`,
		`{"type":"offer","to":"p2","sdp":"v=0","from":"p3","from":""}`,
		`{"type":"candidate","to":"p2","candidate":{"candidate":""},"FROM":"","from":""}`,
		`{"type":"offer","to":"p2","sdp":"v=0","fr\u006fm":""}`,
		`{"type":"offer","to":"p2","sdp":"v=0","\u0046ROM":null}`,
		`{"type":"join","version":1,"name":"A","from":""}`,
		`{"type":"leave","From":""}`,
	} {
		m, err := proto.Decode([]byte(in))
		if err == nil || err.Code != proto.CodeBadMessage || err.Ref != m.Type || m.Type == "" {
			t.Errorf("%s: %+v, %v; want %s with ref the type", in, m, err, proto.CodeBadMessage)
		}
	}
	// A "from" of the wrong JSON type is a shape error, as before.
	for _, in := range []string{`{"type":"answer","from":5,"to":"p2","sdp":"v=0"}`, `{"type":"leave","from":{}}`} {
		if _, err := proto.Decode([]byte(in)); err == nil || err.Code != proto.CodeBadMessage {
			t.Errorf("%s: %v, want %s", in, err, proto.CodeBadMessage)
		}
	}
	// "from" elsewhere is no key: in a value, or in a nested object.
	for _, in := range []string{
		`{"type":"offer","to":"p2","sdp":"a=from \"from\":\"x\""}`,
		`{"type":"join","version":1,"name":"from"}`,
		`{"type":"candidate","to":"p2","candidate":{"candidate":"","from":"x"}}`,
	} {
		if _, err := proto.Decode([]byte(in)); err != nil {
			t.Errorf("%s: %v, want it accepted", in, err)
		}
	}
}

func TestValidRoom(t *testing.T) {
	cases := []struct {
		room string
		want bool
	}{
		{"a", true},
		{"standup", true},
		{"Team-42_room.v2", true},
		{strings.Repeat("r", 64), true},
		{strings.Repeat("r", 65), false},
		{"", false},
		{" ", false},
		{"a b", false},
		{" a", false},
		{"a/b", false},
		{".", false},
		{"..", false},
		{"...", false},
		{".a.", true},
		{"a\\b", false},
		{"%2F", false},
		{"a?b", false},
		{"a#b", false},
		{"a\x00", false},
		{"a\n", false},
		{"café", false},
		{"ｒｏｏｍ", false},
		{"room🎥", false},
		{"a\xff", false},
	}
	for _, tc := range cases {
		if got := proto.ValidRoom(tc.room); got != tc.want {
			t.Errorf("ValidRoom(%q) = %v, want %v", tc.room, got, tc.want)
		}
	}
}

func TestCleanName(t *testing.T) {
	cases := []struct {
		in, want string // want "" = refused
	}{
		{"Alice", "Alice"},
		{"  Alice  ", "Alice"},
		{"\tAlice\r\n", "Alice"},
		{"\u00a0\u2003Alice\u3000", "Alice"},
		{"\u0085Alice\u0085", "Alice"}, // NEL is space (trimmed) at the edges …
		{"Al\u0085ice", ""},            // … and a control character inside
		{"Ann Lee", "Ann Lee"},
		{"Zoë 🎥 李", "Zoë 🎥 李"},
		{"e\u0301", "e\u0301"},    // combining mark is not a control character
		{"evil\u202egnp.exe", ""}, // right-to-left override makes look-alikes
		{"a\u200bb", ""},          // zero-width space
		{strings.Repeat("a", 64), strings.Repeat("a", 64)},
		{strings.Repeat("a", 65), ""},
		{strings.Repeat("李", 64), strings.Repeat("李", 64)},
		{strings.Repeat("李", 65), ""},
		{"  " + strings.Repeat("a", 64) + "  ", strings.Repeat("a", 64)}, // length counts after trimming
		{"", ""},
		{"   ", ""},
		{"\t\n", ""},
		{"a\x00b", ""},
		{"a\x07b", ""},
		{"a\tb", ""},
		{"a\nb", ""},
		{"a\x1fb", ""},
		{"a\x7fb", ""},
		{"a\u009bb", ""},
		{"\xff", ""},
		{"a\xc3", ""},
		{"\xed\xa0\x80", ""},           // UTF-16 surrogate encoded in UTF-8
		{"a\ufffdb", ""},               // what invalid UTF-8 and lone surrogate escapes decode to
		{"a\u2028b", ""},               // line separator
		{"a\u2029b", ""},               // paragraph separator
		{"\u2028Alice\u2029", "Alice"}, // both are space: trimmed at the edges
	}
	for _, tc := range cases {
		got, err := proto.CleanName(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("CleanName(%q) = %q, want refusal", tc.in, got)
			} else if err.Code != proto.CodeBadName || err.Message == "" || got != "" {
				t.Errorf("CleanName(%q) = %q, %+v; want \"\" and code %s", tc.in, got, err, proto.CodeBadName)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("CleanName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if again, err := proto.CleanName(got); err != nil || again != got {
			t.Errorf("CleanName not idempotent on %q: %q, %v", got, again, err)
		}
	}
}

func TestPolite(t *testing.T) {
	ids := []string{"", "a", "b", "A", "10", "9", "p1", "p10", "p2", "é", "zz"}
	for _, a := range ids {
		if proto.Polite(a, a) {
			t.Errorf("Polite(%q, %q) = true; a peer is never polite to itself", a, a)
		}
		for _, b := range ids {
			if a == b {
				continue
			}
			if proto.Polite(a, b) == proto.Polite(b, a) {
				t.Errorf("Polite(%q,%q) == Polite(%q,%q): exactly one side must be polite", a, b, b, a)
			}
		}
	}
	// Lexicographic, not numeric.
	if !proto.Polite("10", "9") || !proto.Polite("p10", "p2") || !proto.Polite("A", "a") {
		t.Error("Polite is not a byte-wise lexicographic comparison")
	}
}

func TestIsDirected(t *testing.T) {
	for typ, want := range map[string]bool{
		"offer": true, "answer": true, "candidate": true,
		"join": false, "leave": false, "welcome": false, "error": false, "": false, "Offer": false,
	} {
		if got := proto.IsDirected(typ); got != want {
			t.Errorf("IsDirected(%q) = %v, want %v", typ, got, want)
		}
	}
}

// Server messages encode to the documented wire shape and decode back.
func TestEncodeServerMessages(t *testing.T) {
	cases := []struct {
		name string
		m    proto.Message
		want string
	}{
		{"welcome", proto.Message{Type: "welcome", ID: "p1", Room: "r", Peers: []proto.PeerInfo{{ID: "p0", Name: "Bo"}},
			ICEServers: []proto.ICEServer{{URLs: []string{"stun:127.0.0.1:3478"}}}},
			`{"type":"welcome","id":"p1","room":"r","peers":[{"id":"p0","name":"Bo"}],"iceServers":[{"urls":["stun:127.0.0.1:3478"]}]}`},
		{"peer-left", proto.Message{Type: "peer-left", Peer: &proto.PeerInfo{ID: "p0", Name: "Bo"}},
			`{"type":"peer-left","peer":{"id":"p0","name":"Bo"}}`},
		{"relayed candidate", proto.Message{Type: "candidate", From: "p1", Candidate: &proto.ICECandidate{Candidate: "c", SDPMLineIndex: u16(0)}},
			`{"type":"candidate","from":"p1","candidate":{"candidate":"c","sdpMLineIndex":0}}`},
		{"error", proto.Errorf(proto.CodeUnknownPeer, "no such peer").WithRef("offer").Msg(),
			`{"type":"error","code":"unknown-peer","message":"no such peer","ref":"offer"}`},
		{"bye", proto.Message{Type: "bye", Code: proto.CodeServerShutdown},
			`{"type":"bye","code":"server-shutdown"}`},
		{"html is escaped", proto.Message{Type: "error", Message: "<script>&"},
			`{"type":"error","message":"\u003cscript\u003e\u0026"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(proto.Encode(tc.m)); got != tc.want {
				t.Errorf("Encode = %s\nwant     %s", got, tc.want)
			}
		})
	}
}

func TestError(t *testing.T) {
	e := proto.Errorf(proto.CodeRoomFull, "room holds %d peers", 8)
	if e.Code != proto.CodeRoomFull || e.Message != "room holds 8 peers" || e.Ref != "" {
		t.Fatalf("Errorf = %+v", e)
	}
	r := e.WithRef("join")
	if r.Ref != "join" || e.Ref != "" || r == e {
		t.Errorf("WithRef must return a copy: orig %+v, copy %+v", e, r)
	}
	if got := r.Error(); got != "room-full: room holds 8 peers" {
		t.Errorf("Error() = %q", got)
	}
	var asErr error = r
	if asErr.Error() == "" {
		t.Error("empty error text")
	}
	want := proto.Message{Type: "error", Code: "room-full", Message: "room holds 8 peers", Ref: "join"}
	if got := r.Msg(); !reflect.DeepEqual(got, want) {
		t.Errorf("Msg() = %+v, want %+v", got, want)
	}
}

// Encode omits empty lists: a welcome to the first peer of a room has no
// "peers" key at all (clients must treat a missing list as empty), and an
// empty list decodes back as nil.
func TestEncodeOmitsEmptyLists(t *testing.T) {
	m := proto.Message{Type: "welcome", ID: "p1", Room: "r", Peers: []proto.PeerInfo{}, ICEServers: []proto.ICEServer{}}
	const want = `{"type":"welcome","id":"p1","room":"r"}`
	if got := string(proto.Encode(m)); got != want {
		t.Fatalf("Encode = %s, want %s", got, want)
	}
	back, err := proto.Decode([]byte(`{"type":"leave","peers":[],"iceServers":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	again, err := proto.Decode(proto.Encode(back))
	if err != nil {
		t.Fatal(err)
	}
	if again.Peers != nil || again.ICEServers != nil {
		t.Errorf("after a round trip: peers %#v, iceServers %#v; want nil", again.Peers, again.ICEServers)
	}
}
