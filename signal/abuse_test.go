package signal

import (
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
	ts := newTestServer(t, abuseConfig(Config{MessageRate: 1, MessageBurst: 2, MaxDropped: 5}))
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
