package signal

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/signal/proto"
)

func TestJoinAndPeerList(t *testing.T) {
	ts := newTestServer(t, Config{})
	a, wa := ts.join(t, "demo", "Alice")
	if len(wa.Peers) != 0 {
		t.Fatalf("first welcome lists peers %+v", wa.Peers)
	}
	if b, err := hex.DecodeString(a.id); err != nil || len(b) != peerIDBytes {
		t.Fatalf("peer id %q is not %d hex bytes", a.id, peerIDBytes)
	}
	b, wb := ts.join(t, "demo", "  Bob \t")
	if b.id == a.id {
		t.Fatalf("two peers got id %q", a.id)
	}
	assertPeers(t, wb.Peers, a)
	a.expectPeer(proto.TypePeerJoined, b)

	c, wc := ts.join(t, "demo", "Bob") // duplicate names are allowed
	assertPeers(t, wc.Peers, a, b)
	a.expectPeer(proto.TypePeerJoined, c)
	b.expectPeer(proto.TypePeerJoined, c)

	// Another room is separate.
	_, wo := ts.join(t, "other", "Olga")
	if len(wo.Peers) != 0 {
		t.Fatalf("welcome in another room lists %+v", wo.Peers)
	}
}

func TestWelcomeCarriesICEServers(t *testing.T) {
	ts := newTestServer(t, Config{ICEServers: func(id string) []proto.ICEServer {
		return []proto.ICEServer{{URLs: []string{"turn:127.0.0.1:3478"}, Username: id, Credential: "c"}}
	}})
	a, w := ts.join(t, "r", "A")
	if len(w.ICEServers) != 1 || w.ICEServers[0].Username != a.id {
		t.Fatalf("welcome iceServers = %+v, want one server for %s", w.ICEServers, a.id)
	}
}

func assertPeers(t *testing.T, got []proto.PeerInfo, want ...*client) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("peers = %+v, want %d", got, len(want))
	}
	for i, w := range want {
		if got[i].ID != w.id || got[i].Name != w.name {
			t.Fatalf("peers[%d] = %+v, want {%s %s}", i, got[i], w.id, w.name)
		}
	}
}

func TestRelayReachesTargetOnly(t *testing.T) {
	mid, idx, frag := "0", uint16(0), "uf"
	cand := &proto.ICECandidate{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host",
		SDPMid: &mid, SDPMLineIndex: &idx, UsernameFragment: &frag}
	tests := []struct {
		name string
		msg  proto.Message
	}{
		{"offer", proto.Message{Type: proto.TypeOffer, SDP: "v=0 offer"}},
		{"answer", proto.Message{Type: proto.TypeAnswer, SDP: "v=0 answer"}},
		{"candidate", proto.Message{Type: proto.TypeCandidate, Candidate: cand}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, Config{})
			a, b, c := ts.joinThree(t, "r")

			m := tt.msg
			m.To = b.id
			a.send(m)
			got := b.expect(tt.msg.Type)
			if got.From != a.id || got.To != b.id || got.SDP != m.SDP {
				t.Fatalf("relayed %+v, want from %s to %s sdp %q", got, a.id, b.id, m.SDP)
			}
			if m.Candidate != nil && (got.Candidate == nil || *got.Candidate.SDPMid != mid ||
				*got.Candidate.SDPMLineIndex != idx || got.Candidate.Candidate != cand.Candidate ||
				*got.Candidate.UsernameFragment != frag) {
				t.Fatalf("relayed candidate %+v, want %+v", got.Candidate, cand)
			}

			// A later room event reaches everyone; for C and the sender it
			// must be the next message, so the relay reached nobody else.
			d, _ := ts.join(t, "r", "D")
			for _, p := range []*client{c, a, b} {
				p.expectPeer(proto.TypePeerJoined, d)
			}
		})
	}
}

func TestSpoofedFromRefused(t *testing.T) {
	ts := newTestServer(t, Config{})
	a, b, c := ts.joinThree(t, "r")

	a.send(proto.Message{Type: proto.TypeOffer, To: b.id, From: c.id, SDP: "spoofed"})
	a.expectError(proto.CodeBadMessage, proto.TypeOffer)
	// The connection stays open and the spoofed offer went nowhere: B's
	// next message is the honest one.
	a.offer(b.id, "honest")
	if got := b.expect(proto.TypeOffer); got.SDP != "honest" || got.From != a.id {
		t.Fatalf("B got %+v, want the honest offer from %s", got, a.id)
	}
}

func TestRoomFull(t *testing.T) {
	ts := newTestServer(t, Config{MaxPeers: 2})
	a, _ := ts.join(t, "r", "A")
	b, _ := ts.join(t, "r", "B")
	a.expectPeer(proto.TypePeerJoined, b)

	c := ts.dial(t, "r")
	c.send(proto.Message{Type: proto.TypeJoin, Version: proto.Version, Name: "C"})
	c.expectError(proto.CodeRoomFull, proto.TypeJoin)
	c.expectClose(websocket.ClosePolicyViolation)

	// Nobody heard of C: A's next message is B's offer.
	b.offer(a.id, "after")
	if got := a.expect(proto.TypeOffer); got.SDP != "after" {
		t.Fatalf("A got %+v, want B's offer", got)
	}
	// The room still has room for nobody else, and another room is free.
	ts.join(t, "r2", "C")
}

// TestBadMessagesAfterJoin sends bad frames from a joined peer: each gets
// its coded error, the connection stays open and the target hears nothing.
func TestBadMessagesAfterJoin(t *testing.T) {
	tests := []struct {
		name string
		mt   int
		// frame builds the frame from the sender's and the target's ids.
		frame func(self, target string) string
		code  string
		ref   string
	}{
		{"bad json", websocket.TextMessage, fixed(`{"type":"offer",`), proto.CodeBadMessage, ""},
		{"not an object", websocket.TextMessage, fixed(`[1,2]`), proto.CodeBadMessage, ""},
		{"no type", websocket.TextMessage, fixed(`{"to":"x"}`), proto.CodeBadMessage, ""},
		{"type not a string", websocket.TextMessage, fixed(`{"type":7}`), proto.CodeBadMessage, ""},
		{"to not a string", websocket.TextMessage, fixed(`{"type":"offer","to":5,"sdp":"x"}`), proto.CodeBadMessage, ""},
		{"candidate not an object", websocket.TextMessage,
			func(_, to string) string { return `{"type":"candidate","to":"` + to + `","candidate":"x"}` },
			proto.CodeBadMessage, ""},
		{"unknown type", websocket.TextMessage, fixed(`{"type":"dance"}`), proto.CodeBadMessage, "dance"},
		{"server-only type", websocket.TextMessage, fixed(`{"type":"welcome"}`), proto.CodeBadMessage, "welcome"},
		{"unknown type of 32 bytes", websocket.TextMessage, fixed(`{"type":"` + strings.Repeat("x", 32) + `"}`),
			proto.CodeBadMessage, strings.Repeat("x", 32)},
		// The server echoes at most 32 bytes of a client's input.
		{"unknown type of 33 bytes gets no ref", websocket.TextMessage, fixed(`{"type":"` + strings.Repeat("x", 33) + `"}`),
			proto.CodeBadMessage, ""},
		{"empty from", websocket.TextMessage,
			func(_, to string) string { return `{"type":"offer","to":"` + to + `","sdp":"x","from":""}` },
			proto.CodeBadMessage, "offer"},
		{"two froms the last empty", websocket.TextMessage,
			func(self, to string) string {
				return `{"type":"candidate","from":"` + self + `","to":"` + to + `","candidate":{"candidate":""},"from":""}`
			},
			proto.CodeBadMessage, "candidate"},
		{"missing target", websocket.TextMessage, fixed(`{"type":"offer","sdp":"x"}`), proto.CodeBadMessage, "offer"},
		{"missing sdp", websocket.TextMessage,
			func(_, to string) string { return `{"type":"answer","to":"` + to + `"}` },
			proto.CodeBadMessage, "answer"},
		{"missing candidate", websocket.TextMessage,
			func(_, to string) string { return `{"type":"candidate","to":"` + to + `"}` },
			proto.CodeBadMessage, "candidate"},
		{"to self", websocket.TextMessage,
			func(self, _ string) string { return `{"type":"offer","to":"` + self + `","sdp":"x"}` },
			proto.CodeBadMessage, "offer"},
		{"second join", websocket.TextMessage, fixed(`{"type":"join","version":1,"name":"again"}`),
			proto.CodeAlreadyJoined, "join"},
		{"binary frame", websocket.BinaryMessage, fixed(`{"type":"offer"}`), proto.CodeBadMessage, ""},
	}
	ts := newTestServer(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			room := strings.ReplaceAll(tt.name, " ", "-")
			a, _ := ts.join(t, room, "A")
			b, _ := ts.join(t, room, "B")
			a.expectPeer(proto.TypePeerJoined, b)

			a.sendRaw(tt.mt, []byte(tt.frame(a.id, b.id)))
			a.expectError(tt.code, tt.ref)
			a.offer(b.id, "still-open")
			if got := b.expect(proto.TypeOffer); got.SDP != "still-open" {
				t.Fatalf("B got %+v, want only the valid offer", got)
			}
		})
	}
}

func fixed(s string) func(string, string) string {
	return func(string, string) string { return s }
}

// TestBadFirstMessage: before the join every problem is fatal.
func TestBadFirstMessage(t *testing.T) {
	tests := []struct {
		name  string
		mt    int
		frame string
		code  string
		ref   string
	}{
		{"offer first", websocket.TextMessage, `{"type":"offer","to":"x","sdp":"x"}`, proto.CodeNotJoined, "offer"},
		{"leave first", websocket.TextMessage, `{"type":"leave"}`, proto.CodeNotJoined, "leave"},
		{"bad json", websocket.TextMessage, `{"type":`, proto.CodeBadMessage, ""},
		{"unknown type", websocket.TextMessage, `{"type":"hello"}`, proto.CodeBadMessage, "hello"},
		{"binary frame", websocket.BinaryMessage, `{"type":"join","version":1,"name":"A"}`, proto.CodeBadMessage, ""},
		{"old version", websocket.TextMessage, `{"type":"join","version":0,"name":"A"}`, proto.CodeUnsupportedVersion, "join"},
		{"new version", websocket.TextMessage, `{"type":"join","version":2,"name":"A"}`, proto.CodeUnsupportedVersion, "join"},
		{"version not a number", websocket.TextMessage, `{"type":"join","version":"1","name":"A"}`, proto.CodeBadMessage, ""},
		{"empty name", websocket.TextMessage, `{"type":"join","version":1,"name":""}`, proto.CodeBadName, "join"},
		{"blank name", websocket.TextMessage, `{"type":"join","version":1,"name":" \t "}`, proto.CodeBadName, "join"},
		{"long name", websocket.TextMessage, `{"type":"join","version":1,"name":"` + strings.Repeat("é", 65) + `"}`, proto.CodeBadName, "join"},
		{"control char", websocket.TextMessage, `{"type":"join","version":1,"name":"a\u0007b"}`, proto.CodeBadName, "join"},
	}
	ts := newTestServer(t, Config{})
	watcher, _ := ts.join(t, "r", "W")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ts.dial(t, "r")
			c.sendRaw(tt.mt, []byte(tt.frame))
			c.expectError(tt.code, tt.ref)
			c.expectClose(websocket.ClosePolicyViolation)
		})
	}
	// None of them reached the room: the watcher's next event is a real join.
	n, _ := ts.join(t, "r", "N")
	watcher.expectPeer(proto.TypePeerJoined, n)
}

func TestBadRoom(t *testing.T) {
	ts := newTestServer(t, Config{})
	for _, room := range []string{"a!b", "a%20b", strings.Repeat("r", proto.MaxRoomLen+1), "caf%C3%A9"} {
		t.Run(room, func(t *testing.T) {
			c := ts.dial(t, room)
			c.expectError(proto.CodeBadRoom, "")
			c.expectClose(websocket.ClosePolicyViolation)
		})
	}
	// The longest valid name works.
	ts.join(t, strings.Repeat("r", proto.MaxRoomLen), "A")
}

func TestUnknownTarget(t *testing.T) {
	ts := newTestServer(t, Config{})
	a, _ := ts.join(t, "r", "A")
	other, _ := ts.join(t, "elsewhere", "O")
	for _, to := range []string{"0000000000000000", other.id} {
		a.offer(to, "x")
		if m := a.expectError(proto.CodeUnknownPeer, proto.TypeOffer); m.To != to {
			t.Fatalf("unknown-peer error names %q, want %q", m.To, to)
		}
	}
	// Still open.
	b, _ := ts.join(t, "r", "B")
	a.expectPeer(proto.TypePeerJoined, b)
}

// TestConcurrentJoinsRespectCapacity: 20 clients join a room of 8 at once;
// exactly 8 get welcome and the rest room-full.
func TestConcurrentJoinsRespectCapacity(t *testing.T) {
	const joiners, capacity = 20, 8
	ts := newTestServer(t, Config{MaxPeers: capacity})
	clients := make([]*client, joiners)
	for i := range clients {
		clients[i] = ts.dial(t, "r")
	}
	join, _ := json.Marshal(proto.Message{Type: proto.TypeJoin, Version: proto.Version, Name: "P"})
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { _ = c.ws.WriteMessage(websocket.TextMessage, join) })
	}
	wg.Wait()
	welcomed := 0
	for _, c := range clients {
		switch m := c.read(); {
		case m.Type == proto.TypeWelcome:
			welcomed++
		case m.Type == proto.TypeError && m.Code == proto.CodeRoomFull:
			c.expectClose(websocket.ClosePolicyViolation)
		default:
			t.Fatalf("join answered with %+v", m)
		}
	}
	if welcomed != capacity {
		t.Fatalf("%d joins admitted, want %d", welcomed, capacity)
	}
}

// TestConnChurn: Config.ConnChurn hears every connection open and close,
// and nothing after Shutdown returns.
func TestConnChurn(t *testing.T) {
	var churn atomic.Int64
	ts := startTestServer(t, Config{ConnChurn: func() { churn.Add(1) }})
	a, _ := ts.join(t, "r", "A")
	ts.join(t, "r", "B")
	if got := churn.Load(); got != 2 {
		t.Errorf("%d churn calls after two opens, want 2", got)
	}
	a.expect(proto.TypePeerJoined)
	a.send(proto.Message{Type: proto.TypeLeave})
	a.expectClose(websocket.CloseNormalClosure)
	waitFor(t, "the leave's close", func() bool { return churn.Load() == 3 })
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	ts.http.Close()
	if got := churn.Load(); got != 4 {
		t.Errorf("%d churn calls after Shutdown, want 4 (two opens, two closes)", got)
	}
}
