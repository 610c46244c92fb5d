package signal

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/signal/proto"
	"github.com/videochat/videochat/signal/token"
)

var testSecret = []byte("room token secret for tests")

// authServer is a server that requires room tokens signed with testSecret.
func authServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	v, err := token.NewVerifier(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tokens = v
	return newTestServer(t, cfg)
}

// roomToken issues a token for room and name valid for ttl (negative: expired).
func roomToken(t *testing.T, secret []byte, room, name string, ttl time.Duration) string {
	t.Helper()
	tok, err := token.Issue(secret, token.Claims{Room: room, Name: name, ExpiresAt: time.Now().Add(ttl)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// algNoneToken is an unsigned token ("alg": "none") for room and name.
func algNoneToken(room, name string) string {
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	claims, _ := json.Marshal(map[string]any{"room": room, "name": name, "exp": time.Now().Add(time.Hour).Unix()})
	return enc.EncodeToString(header) + "." + enc.EncodeToString(claims) + "."
}

func TestAuthRequiresToken(t *testing.T) {
	ts := authServer(t, Config{})
	a, _ := ts.joinAs(t, "r", proto.Message{Token: roomToken(t, testSecret, "r", "A", time.Hour)})
	tests := []struct{ name, tok string }{
		{"missing", ""},
		{"garbage", "not-a-jwt"},
		{"expired", roomToken(t, testSecret, "r", "A", -time.Hour)},
		{"other room", roomToken(t, testSecret, "elsewhere", "A", time.Hour)},
		{"other secret", roomToken(t, []byte("another secret"), "r", "A", time.Hour)},
		{"alg none", algNoneToken("r", "A")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ts.dial(t, "r")
			c.joinMsgExpectError(proto.Message{Name: "A", Token: tt.tok}, proto.CodeUnauthorized)
			c.expectClose(websocket.ClosePolicyViolation)
		})
	}
	// None of them reached the room.
	n, _ := ts.joinAs(t, "r", proto.Message{Token: roomToken(t, testSecret, "r", "N", time.Hour)})
	n.name = "N"
	a.expectPeer(proto.TypePeerJoined, n)
}

// joinMsgExpectError joins with m and expects error code for the join.
func (c *client) joinMsgExpectError(m proto.Message, code string) proto.Message {
	c.t.Helper()
	got := c.joinMsg(m)
	if got.Type != proto.TypeError || got.Code != code || got.Ref != proto.TypeJoin {
		c.t.Fatalf("join answered with %+v, want error %s", got, code)
	}
	return got
}

// TestAuthNoRoomEnumeration: a token for room "a" gets the same answer in a
// room that exists (with peers) and in one that does not.
func TestAuthNoRoomEnumeration(t *testing.T) {
	ts := authServer(t, Config{})
	ts.joinAs(t, "exists", proto.Message{Token: roomToken(t, testSecret, "exists", "X", time.Hour)})
	tok := roomToken(t, testSecret, "a", "Eve", time.Hour)
	answer := func(room string) (proto.Message, int, string) {
		c := ts.dial(t, room)
		m := c.joinMsgExpectError(proto.Message{Name: "Eve", Token: tok}, proto.CodeUnauthorized)
		_, err := c.readFrame()
		ce, ok := err.(*websocket.CloseError)
		if !ok {
			t.Fatalf("room %s: connection ended with %v, want a close", room, err)
		}
		return m, ce.Code, ce.Text
	}
	m1, code1, text1 := answer("exists")
	m2, code2, text2 := answer("does-not-exist")
	if !reflect.DeepEqual(m1, m2) || code1 != code2 || text1 != text2 {
		t.Fatalf("answers differ: %+v %d %q vs %+v %d %q", m1, code1, text1, m2, code2, text2)
	}
}

// TestAuthTokenNameWins: the token's name is the peer's name, and the
// token's can_publish reaches the welcome.
func TestAuthTokenNameWins(t *testing.T) {
	ts := authServer(t, Config{})
	no := false
	tok, err := token.Issue(testSecret, token.Claims{Room: "r", Name: "  Real Name ", CanPublish: &no, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	a, w := ts.joinAs(t, "r", proto.Message{Name: "Fake Name", Token: tok})
	if w.CanPublish == nil || *w.CanPublish {
		t.Fatalf("welcome canPublish = %v, want false", w.CanPublish)
	}
	a.name = "Real Name"
	b, w := ts.joinAs(t, "r", proto.Message{Token: roomToken(t, testSecret, "r", "B", time.Hour)})
	b.name = "B"
	if w.CanPublish != nil {
		t.Fatalf("welcome canPublish = %v for a token without the claim", *w.CanPublish)
	}
	assertPeers(t, w.Peers, a)
	a.expectPeer(proto.TypePeerJoined, b)
}

// TestAuthResumeNeedsToken: with room tokens, a resume must carry a valid
// room token too.
func TestAuthResumeNeedsToken(t *testing.T) {
	ts := authServer(t, Config{ResumeGrace: time.Hour})
	tok := roomToken(t, testSecret, "r", "A", time.Hour)
	a, wa := ts.joinAs(t, "r", proto.Message{Token: tok})
	a.drop()
	ts.waitHeld(t, 1)
	c := ts.dial(t, "r")
	c.joinMsgExpectError(proto.Message{Name: "A", Resume: wa.ResumeToken}, proto.CodeUnauthorized)
	_, w := ts.joinAs(t, "r", proto.Message{Token: tok, Resume: wa.ResumeToken})
	if w.ID != a.id || !w.Resumed {
		t.Fatalf("welcome %+v, want id %s resumed", w, a.id)
	}
}

// TestViewerMayNotPublish: a peer whose token has can_publish false may
// send receive-only offers and answers and candidates, but an offer or
// answer that sends media is refused with forbidden and not relayed. A
// publisher in the same room is not held to it.
func TestViewerMayNotPublish(t *testing.T) {
	ts := authServer(t, Config{})
	no := false
	tok, err := token.Issue(testSecret, token.Claims{Room: "r", Name: "viewer", CanPublish: &no, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := ts.joinAs(t, "r", proto.Message{Token: tok})
	v.name = "viewer"
	p, _ := ts.joinAs(t, "r", proto.Message{Token: roomToken(t, testSecret, "r", "pub", time.Hour)})
	p.name = "pub"
	v.expectPeer(proto.TypePeerJoined, p)

	const sends = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendrecv\r\n"
	const receives = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\n"
	// RFC 9143: a port-0 section marked bundle-only, or listed in the
	// BUNDLE group, is live (peer/viewer_attack_test.go shows pion
	// receiving on both).
	const bundleOnly = "v=0\r\na=group:BUNDLE 0 1\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=recvonly\r\n" +
		"m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=bundle-only\r\na=mid:1\r\na=sendrecv\r\n"
	const bundledPort0 = "v=0\r\na=group:BUNDLE 0 1\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=recvonly\r\n" +
		"m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendrecv\r\n"
	for _, typ := range []string{proto.TypeOffer, proto.TypeAnswer} {
		for _, sdp := range []string{sends, bundleOnly, bundledPort0} {
			v.send(proto.Message{Type: typ, To: p.id, SDP: sdp})
			v.expectError(proto.CodeForbidden, typ)
		}
		v.send(proto.Message{Type: typ, To: p.id, SDP: receives})
		if m := p.expect(typ); m.SDP != receives || m.From != v.id {
			t.Fatalf("publisher got %+v, want the viewer's receive-only %s", m, typ)
		}
	}
	v.send(proto.Message{Type: proto.TypeCandidate, To: p.id, Candidate: &proto.ICECandidate{Candidate: "c"}})
	p.expect(proto.TypeCandidate)

	p.offer(v.id, sends)
	if m := v.expect(proto.TypeOffer); m.SDP != sends {
		t.Fatalf("viewer got %+v, want the publisher's offer", m)
	}
}
