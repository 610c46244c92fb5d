package signal

import (
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/signal/proto"
)

func TestMsgLimiterJudge(t *testing.T) {
	l := newMsgLimiter(&Config{MessageRate: 1, MessageBurst: 2, MaxDropped: 3})
	now := time.Unix(100, 0)
	want := []verdict{admit, admit, dropFirst, drop, drop, cutOff}
	for i, w := range want {
		if got := l.judge(now); got != w {
			t.Fatalf("message %d: %v, want %v", i, got, w)
		}
	}
	// A second later the bucket has one token again; a new window starts
	// RateWindow after the first drop.
	if got := l.judge(now.Add(time.Second)); got != admit {
		t.Fatalf("after 1 s: %v, want admit", got)
	}
	later := now.Add(RateWindow + time.Second)
	l.judge(later) // the bucket is full again: two are admitted
	l.judge(later)
	if got := l.judge(later); got != dropFirst {
		t.Fatalf("new window: %v, want dropFirst", got)
	}
	unlimited := newMsgLimiter(&Config{MessageRate: Unlimited, MessageBurst: 1})
	if got := unlimited.judge(now); got != admit {
		t.Fatalf("unlimited: %v", got)
	}
}

// TestRateLimit: messages over the bucket are dropped with one rate-limited
// error per window; the connection stays open and the others are relayed.
func TestRateLimit(t *testing.T) {
	ts := newTestServer(t, Config{MessageRate: 5, MessageBurst: 5, MaxDropped: 1000})
	a, _ := ts.join(t, "r", "A") // the join takes one token
	b, _ := ts.join(t, "r", "B")
	a.expectPeer(proto.TypePeerJoined, b)
	var relayed atomic.Int64
	go func() {
		for {
			m, err := b.readFrame()
			if err != nil {
				return
			}
			if m.Type == proto.TypeOffer && m.From == a.id {
				relayed.Add(1)
			}
		}
	}()
	const sent = 20
	for i := range sent {
		a.offer(b.id, string(rune('a'+i)))
	}
	a.expectError(proto.CodeRateLimited, "")
	waitFor(t, "every offer relayed or dropped", func() bool {
		return relayed.Load()+int64(ts.Stats().Dropped) == sent
	})
	// The bucket earns a token while the reader pauses after each drop, so
	// a few more than the four left in the burst may pass.
	if n := relayed.Load(); n < 4 || n >= sent-5 {
		t.Fatalf("%d of %d offers relayed, want 4 and a few more at most", n, sent)
	}
	// One error per window: the next answer is the unknown-peer error.
	time.Sleep(300 * time.Millisecond) // not synchronisation: the bucket refills at 5/s
	a.offer("0000000000000000", "x")
	a.expectError(proto.CodeUnknownPeer, proto.TypeOffer)
}

// TestRateLimitCloses: a client that keeps flooding is closed with 1008.
func TestRateLimitCloses(t *testing.T) {
	ts := newTestServer(t, Config{MessageRate: 0.01, MessageBurst: 2, MaxDropped: 5}) // no refill within the test, however slow the machine
	a, _ := ts.join(t, "r", "A")
	b, _ := ts.join(t, "r", "B")
	a.expectPeer(proto.TypePeerJoined, b)
	for range 20 {
		if a.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"offer","to":"0000000000000000","sdp":"x"}`)) != nil {
			break
		}
	}
	a.expectError(proto.CodeUnknownPeer, proto.TypeOffer) // the one admitted
	a.expectError(proto.CodeRateLimited, "")
	a.expectError(proto.CodeRateLimited, "")
	a.expectClose(websocket.ClosePolicyViolation)
	b.expectPeer(proto.TypePeerLeft, a) // closed for abuse: no resume grace
	if st := ts.Stats(); st.RateLimitCloses != 1 {
		t.Fatalf("stats %+v, want one rate-limit close", st)
	}
}

// TestConnsPerIP: past the limit the handshake gets 429; a closed
// connection frees its slot.
func TestConnsPerIP(t *testing.T) {
	ts := newTestServer(t, Config{MaxConnsPerIP: 3})
	var open []*client
	for range 3 {
		open = append(open, ts.dial(t, "r"))
	}
	_, resp, err := ts.dialRaw("r", nil)
	if !errors.Is(err, websocket.ErrBadHandshake) || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("4th dial: %v (%v), want 429", err, resp)
	}
	// A dial returns when the client has the 101; the server may track
	// the connection a little later.
	waitFor(t, "three connections", func() bool { return ts.Stats().Conns == 3 })
	open[0].ws.Close()
	waitFor(t, "a free slot", func() bool { return ts.Stats().Conns == 2 })
	ts.join(t, "r", "A")
	if st := ts.Stats(); st.RefusedIP != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestMaxRooms: a join that would open a room past the limit gets
// room-limit and 1013; joins to open rooms still work, and a room that
// empties frees its slot.
func TestMaxRooms(t *testing.T) {
	ts := newTestServer(t, Config{MaxRooms: 2})
	a, _ := ts.join(t, "r1", "A")
	ts.join(t, "r2", "B")
	c := ts.dial(t, "r3")
	c.joinMsgExpectError(proto.Message{Name: "C"}, proto.CodeRoomLimit)
	c.expectClose(websocket.CloseTryAgainLater)
	ts.join(t, "r2", "B2") // an open room takes more peers

	a.send(proto.Message{Type: proto.TypeLeave})
	a.expectClose(websocket.CloseNormalClosure)
	waitFor(t, "room r1 closed", func() bool { return ts.Stats().Rooms == 1 })
	ts.join(t, "r3", "C")
}

func TestNewLimitDefaults(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := s.cfg
	if c.MessageRate != 50 || c.MessageBurst != 200 || c.MaxDropped != 100 || c.MaxConnsPerIP != 32 ||
		c.MaxRooms != 10000 || c.ResumeGrace != 10*time.Second || c.ResumeTTL != 24*time.Hour ||
		c.ResumeBuffer != 128 || len(c.ResumeSecret) != 32 || c.Tokens != nil {
		t.Fatalf("defaults = %+v", c)
	}
	for _, bad := range []Config{
		{MaxConnsPerIP: -2}, {MaxRooms: -5}, {MessageBurst: -1}, {ResumeGrace: -time.Second},
		{SendQueue: 8, ResumeBuffer: 8},
	} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v) accepted it", bad)
		}
	}
	if _, err := New(Config{MaxConnsPerIP: Unlimited, MaxRooms: Unlimited, MessageRate: Unlimited}); err != nil {
		t.Errorf("Unlimited refused: %v", err)
	}
}
