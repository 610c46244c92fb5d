package signal

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/videochat/videochat/signal/proto"
)

func TestResumeTokenVerify(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	signer := &resumeSigner{secret: []byte("secret-1"), ttl: time.Hour, now: clock}
	peer := proto.PeerInfo{ID: "0123456789abcdef", Name: "Ann Example"}
	tok := signer.issue("room.1", peer)

	c, ok := signer.verify(tok, "room.1")
	if !ok || c.ID != peer.ID || c.Name != peer.Name || c.Room != "room.1" || !c.Expires.Equal(now.Add(time.Hour)) {
		t.Fatalf("verify(own token) = %+v, %v", c, ok)
	}
	// Another signer with the same secret (a restarted server) accepts it.
	if _, ok := (&resumeSigner{secret: []byte("secret-1"), ttl: time.Hour, now: clock}).verify(tok, "room.1"); !ok {
		t.Fatal("same secret, new signer: refused")
	}

	payload, sig, _ := strings.Cut(tok, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	forged := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), peer.ID, "fedcba9876543210", 1))) + "." + sig
	later := func() time.Time { return now.Add(time.Hour) }
	tests := []struct {
		name   string
		signer *resumeSigner
		tok    string
		room   string
	}{
		{"other room", signer, tok, "room.2"},
		{"other secret", &resumeSigner{secret: []byte("secret-2"), now: clock}, tok, "room.1"},
		{"expired", &resumeSigner{secret: []byte("secret-1"), now: later}, tok, "room.1"},
		{"forged id", signer, forged, "room.1"},
		{"no signature", signer, payload, "room.1"},
		{"truncated signature", signer, tok[:len(tok)-2], "room.1"},
		{"garbage", signer, "not.a-token", "room.1"},
		{"empty", signer, "", "room.1"},
		{"too long", signer, tok + strings.Repeat("A", maxResumeToken), "room.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, ok := tt.signer.verify(tt.tok, tt.room); ok {
				t.Fatalf("verify accepted %q: %+v", tt.tok, c)
			}
		})
	}
}

// resumeRoom sets up A, B and C in room r; C watches, B talks to A.
func resumeRoom(t *testing.T, ts *testServer) (a, b, c *client, wa proto.Message) {
	t.Helper()
	a, wa = ts.join(t, "r", "A")
	if wa.ResumeToken == "" || wa.Grace < 1 || wa.Resumed {
		t.Fatalf("welcome %+v lacks a resume token and grace", wa)
	}
	b, _ = ts.join(t, "r", "B")
	a.expectPeer(proto.TypePeerJoined, b)
	c, _ = ts.join(t, "r", "C")
	a.expectPeer(proto.TypePeerJoined, c)
	b.expectPeer(proto.TypePeerJoined, c)
	return a, b, c, wa
}

// TestResumeHeldSession: a dropped peer comes back within the grace period
// with its id; the frames sent to it meanwhile follow its welcome in order,
// and its room-mates see neither a leave nor a join.
func TestResumeHeldSession(t *testing.T) {
	ts := newTestServer(t, Config{ResumeGrace: time.Hour})
	a, b, c, wa := resumeRoom(t, ts)

	a.drop()
	ts.waitHeld(t, 1)
	for _, sdp := range []string{"one", "two", "three"} {
		b.offer(a.id, sdp) // accepted: no unknown-peer error comes back
	}
	ts.waitBuffered(t, "r", a.id, 3) // B's and C's offers race otherwise
	c.offer(a.id, "from-c")
	ts.waitBuffered(t, "r", a.id, 4)
	// D joins while A is away; A is still listed.
	d, wd := ts.join(t, "r", "D")
	assertPeers(t, wd.Peers, a, b, c)

	a2, w := ts.joinAs(t, "r", proto.Message{Name: "ignored", Resume: wa.ResumeToken})
	if w.ID != a.id || !w.Resumed || w.ResumeToken == "" {
		t.Fatalf("resumed welcome = %+v, want id %s, resumed and a token", w, a.id)
	}
	a2.name = "A"
	assertPeers(t, w.Peers, b, c, d)
	for _, want := range []string{"one", "two", "three"} {
		if m := a2.expect(proto.TypeOffer); m.SDP != want || m.From != b.id {
			t.Fatalf("buffered frame %+v, want offer %q from B", m, want)
		}
	}
	if m := a2.expect(proto.TypeOffer); m.SDP != "from-c" || m.From != c.id {
		t.Fatalf("buffered frame %+v, want C's offer", m)
	}
	a2.expectPeer(proto.TypePeerJoined, d)

	// The others noticed nothing: their next frames are D's arrival (for B
	// and C) and then E's.
	b.expectPeer(proto.TypePeerJoined, d)
	c.expectPeer(proto.TypePeerJoined, d)
	e, _ := ts.join(t, "r", "E")
	for _, p := range []*client{a2, b, c, d} {
		p.expectPeer(proto.TypePeerJoined, e)
	}
	// The resumed connection relays both ways.
	a2.offer(b.id, "back")
	if m := b.expect(proto.TypeOffer); m.From != a.id || m.SDP != "back" {
		t.Fatalf("B got %+v, want A's offer", m)
	}
	if st := ts.Stats(); st.Resumed != 1 || st.Held != 0 {
		t.Fatalf("stats %+v, want 1 resumed and none held", st)
	}
}

// TestResumeGraceExpires: without a resume the held peer leaves after the
// grace period, and its token then admits it again under the same id (as
// after a server restart), which the others see as a join.
func TestResumeGraceExpires(t *testing.T) {
	const grace = 300 * time.Millisecond
	ts := newTestServer(t, Config{ResumeGrace: grace})
	a, b, c, wa := resumeRoom(t, ts)
	start := time.Now()
	a.drop()
	b.expectPeer(proto.TypePeerLeft, a)
	c.expectPeer(proto.TypePeerLeft, a)
	if el := time.Since(start); el < grace {
		t.Fatalf("peer-left after %v, before the %v grace", el, grace)
	}
	a2, w := ts.joinAs(t, "r", proto.Message{Name: "other name", Resume: wa.ResumeToken})
	if w.ID != a.id || !w.Resumed {
		t.Fatalf("welcome %+v, want the old id %s, resumed", w, a.id)
	}
	a2.name = "A" // the token's name, not the join's
	assertPeers(t, w.Peers, b, c)
	b.expectPeer(proto.TypePeerJoined, a2)
	c.expectPeer(proto.TypePeerJoined, a2)
}

// TestResumeAfterRestart: a server with the same resume secret re-admits
// peers of its predecessor under their old ids.
func TestResumeAfterRestart(t *testing.T) {
	secret := []byte("shared resume secret")
	ts1 := startTestServer(t, Config{ResumeSecret: secret})
	a, wa := ts1.join(t, "r", "A")
	b, wb := ts1.join(t, "r", "B")
	a.expectPeer(proto.TypePeerJoined, b)
	shutdown(t, ts1)

	ts2 := newTestServer(t, Config{ResumeSecret: secret})
	a2, w := ts2.joinAs(t, "r", proto.Message{Name: "A", Resume: wa.ResumeToken})
	if w.ID != a.id || !w.Resumed || len(w.Peers) != 0 {
		t.Fatalf("welcome %+v, want id %s, resumed, empty room", w, a.id)
	}
	b2, w := ts2.joinAs(t, "r", proto.Message{Name: "B", Resume: wb.ResumeToken})
	if w.ID != b.id || !w.Resumed {
		t.Fatalf("welcome %+v, want id %s, resumed", w, b.id)
	}
	assertPeers(t, w.Peers, a2)
	a2.expectPeer(proto.TypePeerJoined, b2)

	// A third server with another secret treats the token as a new join.
	ts3 := newTestServer(t, Config{})
	_, w = ts3.joinAs(t, "r", proto.Message{Name: "A", Resume: wa.ResumeToken})
	if w.ID == a.id || w.Resumed {
		t.Fatalf("foreign server resumed %+v", w)
	}
}

func shutdown(t *testing.T, ts *testServer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	ts.http.Close()
}

// TestResumeTakesOverLiveConnection: a second connection with the token of
// a live one (the page opened twice) takes the session; the first is
// closed with CloseReplaced and the room notices nothing.
func TestResumeTakesOverLiveConnection(t *testing.T) {
	ts := newTestServer(t, Config{ResumeGrace: time.Hour})
	a, b, c, wa := resumeRoom(t, ts)
	a2, w := ts.joinAs(t, "r", proto.Message{Name: "A", Resume: wa.ResumeToken})
	if w.ID != a.id || !w.Resumed {
		t.Fatalf("welcome %+v, want id %s, resumed", w, a.id)
	}
	assertPeers(t, w.Peers, b, c)
	a.expectError(proto.CodeReplaced, "")
	a.expectClose(proto.CloseReplaced)

	b.offer(a.id, "to-new")
	if m := a2.expect(proto.TypeOffer); m.SDP != "to-new" {
		t.Fatalf("new connection got %+v", m)
	}
	d, _ := ts.join(t, "r", "D")
	for _, p := range []*client{b, c, a2} {
		p.expectPeer(proto.TypePeerJoined, d)
	}
}

// TestResumeRefusedTokens: a bad token makes an ordinary join.
func TestResumeRefusedTokens(t *testing.T) {
	ts := newTestServer(t, Config{ResumeGrace: time.Hour})
	a, b, _, wa := resumeRoom(t, ts)
	other, wo := ts.join(t, "other", "O")
	tests := []struct{ name, room, tok string }{
		{"garbage", "r", "garbage"},
		{"tampered", "r", wa.ResumeToken[:len(wa.ResumeToken)-3] + "AAA"},
		{"other room's token", "r", wo.ResumeToken},
		{"token for another room", "other", wa.ResumeToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, w := ts.joinAs(t, tt.room, proto.Message{Name: "N", Resume: tt.tok})
			if w.Resumed || w.ID == a.id || w.ID == other.id {
				t.Fatalf("welcome %+v: resumed with a bad token", w)
			}
			watchers := []*client{a, b}
			if tt.room == "other" {
				watchers = []*client{other}
			}
			for _, w := range watchers {
				w.expectPeer(proto.TypePeerJoined, n)
			}
		})
	}
	// A's connection was never disturbed.
	b.offer(a.id, "still A")
	if m := a.expect(proto.TypeOffer); m.SDP != "still A" {
		t.Fatalf("A got %+v", m)
	}
}

// TestResumeBufferOverflow: a held session whose buffer overflows ends as
// a leave, and the sender learns that its frames did not arrive.
func TestResumeBufferOverflow(t *testing.T) {
	ts := newTestServer(t, Config{ResumeGrace: time.Hour, SendQueue: 8, ResumeBuffer: 3})
	a, b, c, wa := resumeRoom(t, ts)
	a.drop()
	ts.waitHeld(t, 1)
	for range 4 {
		b.offer(a.id, "x")
	}
	// The 4th offer overflows the buffer: B gets unknown-peer for it and,
	// in either order, A's peer-left.
	var sawErr, sawLeft bool
	for range 2 {
		switch m := b.read(); {
		case m.Type == proto.TypeError && m.Code == proto.CodeUnknownPeer && m.To == a.id:
			sawErr = true
		case m.Type == proto.TypePeerLeft && m.Peer != nil && m.Peer.ID == a.id:
			sawLeft = true
		default:
			t.Fatalf("B got %+v", m)
		}
	}
	if !sawErr || !sawLeft {
		t.Fatalf("B saw error %v, peer-left %v; want both", sawErr, sawLeft)
	}
	c.expectPeer(proto.TypePeerLeft, a)
	ts.waitHeld(t, 0)
	// The token still works, as after a restart: a new session, same id.
	_, w := ts.joinAs(t, "r", proto.Message{Name: "A", Resume: wa.ResumeToken})
	if w.ID != a.id || !w.Resumed {
		t.Fatalf("welcome %+v", w)
	}
}

// TestResumeDisabled: without resume a drop is a leave.
func TestResumeDisabled(t *testing.T) {
	ts := newTestServer(t, Config{DisableResume: true})
	a, w := ts.join(t, "r", "A")
	if w.ResumeToken != "" || w.Grace != 0 {
		t.Fatalf("welcome %+v carries resume fields with resume off", w)
	}
	b, _ := ts.join(t, "r", "B")
	a.expectPeer(proto.TypePeerJoined, b)
	a.drop()
	b.expectPeer(proto.TypePeerLeft, a)
}

// TestShutdownEndsHeldSessions: Shutdown does not wait out the grace
// period, and leaves no goroutine behind.
func TestShutdownEndsHeldSessions(t *testing.T) {
	defer goleak.VerifyNone(t)
	ts := startTestServer(t, Config{ResumeGrace: time.Hour})
	a, _ := ts.join(t, "r", "A")
	b, _ := ts.join(t, "r", "B")
	a.expectPeer(proto.TypePeerJoined, b)
	a.drop()
	ts.waitHeld(t, 1)
	start := time.Now()
	shutdown(t, ts)
	if el := time.Since(start); el > ioTimeout/2 {
		t.Fatalf("Shutdown took %v", el)
	}
	if m := b.expect(proto.TypeBye); m.Code != proto.CodeServerShutdown {
		t.Fatalf("B got %+v", m)
	}
	b.expectClose(websocket.CloseGoingAway)
	if st := ts.Stats(); st.Held != 0 || st.Conns != 0 || st.Rooms != 0 {
		t.Fatalf("stats after shutdown %+v", st)
	}
	a.ws.Close()
	b.ws.Close()
}

// waitBuffered waits until the session held for peer id has n frames.
func (ts *testServer) waitBuffered(t *testing.T, room, id string, n int) {
	t.Helper()
	sess := ts.findSession(room, id)
	if sess == nil {
		t.Fatalf("no session for %s", id)
	}
	waitFor(t, "buffered frames", func() bool {
		sess.mu.Lock()
		defer sess.mu.Unlock()
		return len(sess.buf) == n
	})
}
