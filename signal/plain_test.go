package signal

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/signal/proto"
)

// TestPlainGorillaPath runs one conversation over the transport with its
// tricks (write batching, direct writes, read-ahead and header checks,
// pong swallowing, reader hand-over; package wsconn) and over plain
// gorilla, and checks that the clients hear the same on both: the tricks
// change the cost, not the behaviour.
func TestPlainGorillaPath(t *testing.T) {
	var transcripts [2][]string
	for i, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plain=%v", plain), func(t *testing.T) {
			transcripts[i] = conversation(t, Config{plainWebSocket: plain})
		})
	}
	if t.Failed() {
		return
	}
	a, b := transcripts[0], transcripts[1]
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("the clients heard\n%q\nwith the tricks, and\n%q\nover plain gorilla", a, b)
	}
	t.Logf("%d events alike", len(a))
}

// conversation joins three peers, relays an offer, an answer and a
// candidate, answers bad JSON, expels a peer that sends an unmasked frame
// and lets one leave; it returns what the clients heard, with peer ids
// replaced by names.
func conversation(t *testing.T, cfg Config) []string {
	ts := newTestServer(t, cfg)
	var out []string
	a, _ := ts.join(t, "room", "alice")
	b, w := ts.join(t, "room", "bob")
	names := map[string]string{a.id: "alice", b.id: "bob"}
	name := func(id string) string { return names[id] }
	log := func(who string, m proto.Message) {
		peer := ""
		if m.Peer != nil {
			peer = name(m.Peer.ID)
		}
		out = append(out, fmt.Sprintf("%s: %s from=%s peer=%s code=%s sdp=%q", who, m.Type, name(m.From), peer, m.Code, m.SDP))
	}
	out = append(out, fmt.Sprintf("bob welcomed with %d peers", len(w.Peers)))
	log("alice", a.expect(proto.TypePeerJoined))

	long := make([]byte, 3000) // past gorilla's write buffer
	for i := range long {
		long[i] = "∈a"[i%2]
	}
	a.offer(b.id, "v=0 "+string(long))
	log("bob", b.expect(proto.TypeOffer))
	b.send(proto.Message{Type: proto.TypeAnswer, To: a.id, SDP: "v=0 answer"})
	log("alice", a.expect(proto.TypeAnswer))
	a.sendRaw(websocket.TextMessage, []byte(`{"type":"candidate","to":"`+b.id+`","candidate":{"candidate":"c","sdpMid":"0"}}`))
	log("bob", b.expect(proto.TypeCandidate))
	a.sendRaw(websocket.TextMessage, []byte(`{`))
	log("alice", a.expect(proto.TypeError))

	c, _ := ts.join(t, "room", "carol")
	names[c.id] = "carol"
	log("alice", a.expect(proto.TypePeerJoined))
	log("bob", b.expect(proto.TypePeerJoined))
	// An unmasked client frame breaks RFC 6455: close 1002, and carol
	// leaves the room at once.
	if _, err := c.ws.NetConn().Write([]byte{0x81, 1, 'x'}); err != nil {
		t.Fatal(err)
	}
	c.expectClose(websocket.CloseProtocolError)
	out = append(out, "carol closed with 1002")
	log("alice", a.expect(proto.TypePeerLeft))
	log("bob", b.expect(proto.TypePeerLeft))

	b.send(proto.Message{Type: proto.TypeLeave})
	b.expectClose(websocket.CloseNormalClosure)
	out = append(out, "bob closed with 1000")
	log("alice", a.expect(proto.TypePeerLeft))
	return out
}

// TestLongFrameThenDirectWrite: a frame that gorilla writes in two pieces
// (a welcome longer than its write buffer, listing peers with non-ASCII
// names) followed by a frame written directly (an offer to the idle
// peer): both arrive. Before wsconn's writeState, batchConn took the
// second piece for a close frame when it began with the UTF-8
// continuation byte 0x88, and dropped the connection at the next direct
// write. Three room names shift the welcome's bytes through every
// alignment of the 3-byte "∈" (e2 88 88).
func TestLongFrameThenDirectWrite(t *testing.T) {
	ts := newTestServer(t, Config{MaxConnsPerIP: Unlimited})
	name := strings.Repeat("∈", proto.MaxNameLen)
	for _, room := range []string{"r", "rr", "rrr"} {
		var first *client
		for i := range 7 {
			p, _ := ts.join(t, room, name)
			if i == 0 {
				first = p
			}
		}
		x, w := ts.join(t, room, "x")
		if n := len(proto.Encode(w)); n <= 1024 {
			t.Fatalf("welcome of %d bytes, want more than gorilla's write buffer", n)
		}
		first.offer(x.id, "v=0")
		if m := x.expect(proto.TypeOffer); m.From != first.id {
			t.Fatalf("offer from %q, want %q", m.From, first.id)
		}
	}
}
