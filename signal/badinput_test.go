package signal

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/signal/proto"
)

// badCase is one row of the bad-input table (SECURITY.md has the same
// table). An attacker connects to a room with two room-mates and does
// something wrong; the row says what it must get back.
type badCase struct {
	name   string
	room   string // URL room; "" selects the case's own room
	origin string // Origin header at the handshake
	joined bool   // the attacker joins properly first
	// server selects the servers the row runs on: both, or only the one
	// with (authOnly) or without (openOnly) room tokens.
	server serverKind
	act    func(a *client, mate string)
	status int    // HTTP status when the handshake must be refused
	code   string // error code the attacker must get ("" none)
	close  int    // close code that must end the connection (0: stays open)
	// skip lists error codes that may come before the expected outcome
	// (answers to the flood messages the rate limit let through).
	skip []string
}

type serverKind int

const (
	bothServers serverKind = iota
	authOnly
	openOnly
)

func raw(frame string) func(*client, string) {
	return func(a *client, _ string) { a.sendRaw(websocket.TextMessage, []byte(frame)) }
}

func badCases(t *testing.T) []badCase {
	tok := func(room, name string, ttl time.Duration) string { return roomToken(t, testSecret, room, name, ttl) }
	join := func(token string) func(*client, string) {
		return func(a *client, _ string) {
			a.send(proto.Message{Type: proto.TypeJoin, Version: proto.Version, Name: "Mallory", Token: token})
		}
	}
	return []badCase{
		{name: "malformed JSON", joined: true, act: raw(`{"type":"offer",`), code: proto.CodeBadMessage},
		{name: "wrong field types", joined: true, act: raw(`{"type":"offer","to":5,"sdp":["x"]}`), code: proto.CodeBadMessage},
		{name: "unknown type", joined: true, act: raw(`{"type":"shout","text":"hi"}`), code: proto.CodeBadMessage},
		{name: "missing target", joined: true, act: raw(`{"type":"offer","sdp":"v=0"}`), code: proto.CodeBadMessage},
		{name: "unknown target", joined: true, act: raw(`{"type":"offer","to":"0123456789abcdef","sdp":"v=0"}`), code: proto.CodeUnknownPeer},
		{name: "spoofed from", joined: true, act: func(a *client, mate string) {
			a.send(proto.Message{Type: proto.TypeOffer, To: mate, From: mate, SDP: "v=0"})
		}, code: proto.CodeBadMessage},
		{name: "empty from", joined: true, act: func(a *client, mate string) {
			a.sendRaw(websocket.TextMessage, []byte(`{"type":"offer","to":"`+mate+`","sdp":"v=0","from":""}`))
		}, code: proto.CodeBadMessage},
		{name: "two from keys", joined: true, act: func(a *client, mate string) {
			a.sendRaw(websocket.TextMessage, []byte(`{"type":"offer","from":"`+mate+`","to":"`+mate+`","sdp":"v=0","from":""}`))
		}, code: proto.CodeBadMessage},
		{name: "unknown type over 32 bytes", joined: true, act: raw(`{"type":"` + strings.Repeat("x", 33) + `"}`), code: proto.CodeBadMessage},
		{name: "binary frame", joined: true, act: func(a *client, _ string) {
			a.sendRaw(websocket.BinaryMessage, []byte{0, 1, 2, 3})
		}, code: proto.CodeBadMessage},
		{name: "oversize frame", joined: true, act: func(a *client, mate string) {
			a.sendRaw(websocket.TextMessage, []byte(`{"type":"offer","to":"`+mate+`","sdp":"`+strings.Repeat("s", proto.MaxFrameSize)+`"}`))
		}, close: websocket.CloseMessageTooBig},
		{name: "burst of 20000 messages", joined: true, act: burst(20000),
			code: proto.CodeRateLimited, close: websocket.ClosePolicyViolation,
			skip: []string{proto.CodeUnknownPeer, proto.CodeRateLimited}},
		{name: "unmasked frame", joined: true, act: rawBytes([]byte{0x81, 2, '{', '}'}), close: websocket.CloseProtocolError},
		{name: "reserved bits set", joined: true, act: rawBytes(maskedFrame(0xc1, "{}")), close: websocket.CloseProtocolError},
		{name: "unknown opcode", joined: true, act: rawBytes(maskedFrame(0x83, "")), close: websocket.CloseProtocolError},
		{name: "fragmented control frame", joined: true, act: rawBytes(maskedFrame(0x09, "")), close: websocket.CloseProtocolError},
		{name: "control frame over 125 bytes", joined: true,
			act: rawBytes(append([]byte{0x89, 0x80 | 126, 0, 126, 0, 0, 0, 0}, strings.Repeat("p", 126)...)), close: websocket.CloseProtocolError},
		{name: "continuation outside a message", joined: true, act: rawBytes(maskedFrame(0x80, "x")), close: websocket.CloseProtocolError},
		{name: "new message inside a fragmented one", joined: true,
			act: rawBytes(append(maskedFrame(0x01, "{"), maskedFrame(0x81, "{}")...)), close: websocket.CloseProtocolError},
		{name: "close frame with a 1-byte payload", joined: true, act: rawBytes(maskedFrame(0x88, "\x03")), close: websocket.CloseProtocolError},
		{name: "2^63-byte length", joined: true,
			act: rawBytes([]byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), close: websocket.CloseProtocolError},
		{name: "bad close code", joined: true, act: rawBytes(maskedFrame(0x88, "\x03\xe7")), close: websocket.CloseProtocolError},
		{name: "close reason not UTF-8", joined: true, act: rawBytes(maskedFrame(0x88, "\x03\xe8\xff")), close: websocket.CloseProtocolError},
		{name: "malformed JSON before join", act: raw(`{"type":`), code: proto.CodeBadMessage, close: websocket.ClosePolicyViolation},
		{name: "offer before join", act: raw(`{"type":"offer","to":"0123456789abcdef","sdp":"v=0"}`),
			code: proto.CodeNotJoined, close: websocket.ClosePolicyViolation},
		{name: "foreign origin", origin: "https://evil.example", status: http.StatusForbidden},
		{name: "no token", server: authOnly, act: join(""), code: proto.CodeUnauthorized, close: websocket.ClosePolicyViolation},
		{name: "bad token", server: authOnly, act: join("eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"), code: proto.CodeUnauthorized, close: websocket.ClosePolicyViolation},
		{name: "expired token", server: authOnly, act: join(tok("bad-input", "Mallory", -time.Hour)), code: proto.CodeUnauthorized, close: websocket.ClosePolicyViolation},
		{name: "alg none token", server: authOnly, act: join(algNoneToken("bad-input", "Mallory")), code: proto.CodeUnauthorized, close: websocket.ClosePolicyViolation},
		{name: "token for another room", server: authOnly, act: join(tok("elsewhere", "Mallory", time.Hour)), code: proto.CodeUnauthorized, close: websocket.ClosePolicyViolation},
		{name: "bad room", room: "bad!room", code: proto.CodeBadRoom, close: websocket.ClosePolicyViolation},
		{name: "bad name", server: openOnly, act: raw(`{"type":"join","version":1,"name":"\u0007"}`), code: proto.CodeBadName, close: websocket.ClosePolicyViolation},
		{name: "invalid UTF-8 name", act: raw("{\"type\":\"join\",\"version\":1,\"name\":\"a\xff\xfeb\"}"),
			code: proto.CodeBadMessage, close: websocket.CloseInvalidFramePayloadData},
		{name: "invalid UTF-8 text frame", joined: true, act: raw("{\"type\":\"offer\",\"to\":\"0123456789abcdef\",\"sdp\":\"\xc3\"}"),
			code: proto.CodeBadMessage, close: websocket.CloseInvalidFramePayloadData},
		{name: "lone surrogate in name", server: openOnly, act: raw(`{"type":"join","version":1,"name":"a\ud800b"}`),
			code: proto.CodeBadName, close: websocket.ClosePolicyViolation},
		{name: "line separator in name", server: openOnly, act: raw(`{"type":"join","version":1,"name":"a\u2028b"}`),
			code: proto.CodeBadName, close: websocket.ClosePolicyViolation},
		{name: "bad version", act: raw(`{"type":"join","version":9,"name":"M"}`), code: proto.CodeUnsupportedVersion, close: websocket.ClosePolicyViolation},
	}
}

// rawBytes writes b to the attacker's socket as it is, past its
// WebSocket library: frames no client library would send.
func rawBytes(b []byte) func(*client, string) {
	return func(a *client, _ string) {
		if _, err := a.ws.NetConn().Write(b); err != nil {
			a.t.Fatalf("write: %v", err)
		}
	}
}

// burst sends n messages as fast as the connection takes them, from its
// own goroutine (the test reads the answers meanwhile).
func burst(n int) func(*client, string) {
	return func(a *client, _ string) {
		frame := []byte(`{"type":"candidate","to":"0123456789abcdef","candidate":{"candidate":""}}`)
		done := make(chan struct{})
		a.t.Cleanup(func() {
			a.ws.Close() // the server reads slowly after its close: stop writing
			<-done
		})
		go func() {
			defer close(done)
			for range n {
				_ = a.ws.SetWriteDeadline(time.Now().Add(ioTimeout))
				if a.ws.WriteMessage(websocket.TextMessage, frame) != nil {
					return
				}
			}
		}()
	}
}

// TestBadInput drives real servers, one open and one requiring room tokens,
// with every row of the bad-input table. The attacker gets its documented
// answer and never answers the server's close; its room-mates see nothing
// but, if it was in the room and was thrown out, its peer-left, which is
// not held back for a resume (the grace is an hour here); a relay in
// another room keeps working throughout. (The close grace keeps its
// default: after the burst row the server reads the attacker's backlog
// until the grace ends. abuse_test.go shows that expelled peers leave
// before the close handshake ends.)
func TestBadInput(t *testing.T) {
	cfg := Config{ResumeGrace: time.Hour}
	t.Run("open", func(t *testing.T) { runBadInput(t, newTestServer(t, cfg), openOnly) })
	t.Run("auth", func(t *testing.T) { runBadInput(t, authServer(t, cfg), authOnly) })
}

func runBadInput(t *testing.T, ts *testServer, kind serverKind) {
	o1 := ts.joinTok(t, "other", "O1")
	o2 := ts.joinTok(t, "other", "O2")
	o1.expectPeer(proto.TypePeerJoined, o2)
	for i, tc := range badCases(t) {
		if tc.server != bothServers && tc.server != kind {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			room := fmt.Sprintf("bad-input-%d", i)
			m := ts.joinTok(t, room, "Mate")
			s := ts.joinTok(t, room, "Sender")
			m.expectPeer(proto.TypePeerJoined, s)
			a := tc.attack(t, ts, room, m, s)

			if tc.joined && tc.close != 0 {
				m.expectPeer(proto.TypePeerLeft, a)
				s.expectPeer(proto.TypePeerLeft, a)
			}
			s.offer(m.id, "sentinel")
			if got := m.expect(proto.TypeOffer); got.SDP != "sentinel" || got.From != s.id {
				t.Fatalf("room-mate got %+v, want the sentinel", got)
			}
			o1.offer(o2.id, room)
			if got := o2.expect(proto.TypeOffer); got.SDP != room {
				t.Fatalf("other room got %+v", got)
			}
		})
	}
}

// attack runs tc against room and checks the attacker's outcome.
func (tc badCase) attack(t *testing.T, ts *testServer, room string, m, s *client) *client {
	t.Helper()
	if tc.room != "" {
		room = tc.room
	}
	hdr := http.Header{}
	if tc.origin != "" {
		hdr.Set("Origin", tc.origin)
	}
	ws, resp, err := ts.dialRaw(room, hdr)
	if tc.status != 0 {
		if !errors.Is(err, websocket.ErrBadHandshake) || resp.StatusCode != tc.status {
			t.Fatalf("handshake: %v, want HTTP %d", err, tc.status)
		}
		return nil
	}
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	a := &client{t: t, ws: ws}
	a.ignoreClose()
	if tc.joined {
		w := a.joinMsg(ts.joinFor(t, room, "Mallory"))
		a.id, a.name = w.ID, "Mallory"
		m.expectPeer(proto.TypePeerJoined, a)
		s.expectPeer(proto.TypePeerJoined, a)
	}
	if tc.act != nil {
		tc.act(a, m.id)
	}
	tc.expectOutcome(a)
	return a
}

// expectOutcome reads the attacker's frames: the expected error (after any
// skippable ones), then the close, or, for a connection that stays open,
// the answer to a probe that proves it still works.
func (tc badCase) expectOutcome(a *client) {
	a.t.Helper()
	sawCode := tc.code == ""
	if tc.close == 0 {
		if m := a.expect(proto.TypeError); m.Code != tc.code {
			a.t.Fatalf("attacker got %+v, want error %q", m, tc.code)
		}
		a.offer("fedcba9876543210", "probe")
		a.expectError(proto.CodeUnknownPeer, proto.TypeOffer)
		return
	}
	for {
		m, err := a.readFrame()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != tc.close || !sawCode {
				a.t.Fatalf("ended with %v (saw error %s: %v), want error %q and close %d", err, tc.code, sawCode, tc.code, tc.close)
			}
			return
		}
		switch {
		case m.Type == proto.TypeError && m.Code == tc.code && !sawCode:
			sawCode = true
		case m.Type == proto.TypeError && slices.Contains(tc.skip, m.Code):
		default:
			a.t.Fatalf("attacker got %+v, want error %q then close %d", m, tc.code, tc.close)
		}
	}
}

// joinTok joins room as name, with a valid room token if the server
// requires one.
func (ts *testServer) joinTok(t *testing.T, room, name string) *client {
	t.Helper()
	c, _ := ts.joinAs(t, room, ts.joinFor(t, room, name))
	c.name = name
	return c
}

// joinFor is a join for name in room that the server accepts.
func (ts *testServer) joinFor(t *testing.T, room, name string) proto.Message {
	m := proto.Message{Name: name}
	if ts.cfg.Tokens != nil {
		m.Token = roomToken(t, testSecret, room, name, time.Hour)
	}
	return m
}
