package signal

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/signal/proto"
)

// abuseConfig makes "the peer leaves at once" observable: a held session
// would wait an hour for its resume, and a close handshake the client does
// not answer would take an hour too. A peer-left that arrives within the
// test's read deadline can therefore only come from leaving at once.
func abuseConfig(cfg Config) Config {
	cfg.ResumeGrace = time.Hour
	cfg.CloseGrace = time.Hour
	return cfg
}

// ignoreClose makes the client read the server's close frame without
// answering it, as a client that keeps flooding would.
func (c *client) ignoreClose() {
	c.ws.SetCloseHandler(func(int, string) error { return nil })
}

// TestRateLimitLeavesAtOnce: a flooder that is closed with rate-limited
// leaves its room when the server closes it, not when the close handshake
// ends (it never answers here) or when the reader has worked through the
// frames still queued behind the close.
func TestRateLimitLeavesAtOnce(t *testing.T) {
	ts := newTestServer(t, abuseConfig(Config{MessageRate: 0.01, MessageBurst: 2, MaxDropped: 5})) // no refill within the test, however slow the machine
	a, _ := ts.join(t, "r", "A")
	b, _ := ts.join(t, "r", "B")
	a.expectPeer(proto.TypePeerJoined, b)
	a.ignoreClose()
	for range 20 {
		a.sendRaw(websocket.TextMessage, []byte(`{"type":"offer","to":"0000000000000000","sdp":"x"}`))
	}
	a.expectError(proto.CodeUnknownPeer, proto.TypeOffer)
	a.expectError(proto.CodeRateLimited, "")
	a.expectError(proto.CodeRateLimited, "")
	a.expectClose(websocket.ClosePolicyViolation)
	b.expectPeer(proto.TypePeerLeft, a)
	if st := ts.Stats(); st.Held != 0 {
		t.Fatalf("stats %+v: an expelled peer is held for resume", st)
	}
}

// TestProtocolViolationLeavesAtOnce: a WebSocket protocol violation is
// abuse, not a drop. The client gets close 1002 and its room-mates get
// peer-left at once, though the server would hold a dropped peer for an
// hour and the client never answers the close. (TestBadInput has a row
// for each violation.)
func TestProtocolViolationLeavesAtOnce(t *testing.T) {
	ts := newTestServer(t, abuseConfig(Config{}))
	a, _ := ts.join(t, "r", "A")
	b, _ := ts.join(t, "r", "B")
	a.expectPeer(proto.TypePeerJoined, b)
	a.ignoreClose()
	rawBytes([]byte{0x81, 2, '{', '}'})(a, b.id) // unmasked
	a.expectClose(websocket.CloseProtocolError)
	b.expectPeer(proto.TypePeerLeft, a)
	if st := ts.Stats(); st.Held != 0 {
		t.Fatalf("stats %+v: a peer closed for a protocol violation is held for resume", st)
	}
}

// TestHTTP10UpgradeRefused: the WebSocket handshake needs HTTP/1.1 (RFC
// 6455 section 4.1); an HTTP/1.0 upgrade request gets 400 and no upgrade.
func TestHTTP10UpgradeRefused(t *testing.T) {
	ts := newTestServer(t, Config{})
	nc, err := net.Dial("tcp", strings.TrimPrefix(ts.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(ioTimeout))
	req := "GET /ws/r HTTP/1.0\r\nHost: " + nc.RemoteAddr().String() + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	if _, err := nc.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("HTTP/1.0 upgrade answered %s, want 400", resp.Status)
	}
	if st := ts.Stats(); st.Conns != 0 {
		t.Fatalf("stats %+v: an HTTP/1.0 upgrade got a connection", st)
	}
}
