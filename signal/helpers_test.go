package signal

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/signal/proto"
)

// ioTimeout bounds every read a test waits for. It is generous because the
// machine is shared; nothing waits for it to pass on the happy path.
const ioTimeout = 15 * time.Second

// testServer is a Server behind an httptest.Server, mounted as cmd does.
type testServer struct {
	*Server
	http *httptest.Server
}

// newTestServer starts a server logging to the test. Cleanup shuts it down.
func newTestServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	ts := startTestServer(t, cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		if err := ts.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		ts.http.Close()
	})
	return ts
}

// startTestServer starts a server the test must shut down itself.
func startTestServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws/{room}", srv)
	return &testServer{Server: srv, http: httptest.NewServer(mux)}
}

// wsURL is the signalling URL of room.
func (ts *testServer) wsURL(room string) string {
	return "ws" + strings.TrimPrefix(ts.http.URL, "http") + "/ws/" + room
}

// dialRaw opens a WebSocket to room with extra request headers.
func (ts *testServer) dialRaw(room string, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: ioTimeout}
	ws, resp, err := d.Dial(ts.wsURL(room), hdr)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	return ws, resp, err
}

// client is a test's end of one signalling connection.
type client struct {
	t    *testing.T
	ws   *websocket.Conn
	id   string // set by join
	name string
}

// dial connects to room; the connection is closed at cleanup.
func (ts *testServer) dial(t *testing.T, room string) *client {
	t.Helper()
	ws, _, err := ts.dialRaw(room, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", room, err)
	}
	t.Cleanup(func() { ws.Close() })
	return &client{t: t, ws: ws}
}

// join connects to room, joins as name and checks the welcome.
// writeUntil sends frame from c in a goroutine, at most max times, until
// stop is closed or a write fails; the channel then gets how many it sent.
func (c *client) writeUntil(frame []byte, max int, stop <-chan struct{}) <-chan int {
	sent := make(chan int, 1)
	go func() {
		n := 0
		defer func() { sent <- n }()
		for ; n < max; n++ {
			select {
			case <-stop:
				return
			default:
			}
			_ = c.ws.SetWriteDeadline(time.Now().Add(ioTimeout))
			if c.ws.WriteMessage(websocket.TextMessage, frame) != nil {
				return
			}
		}
	}()
	return sent
}

// joinThree joins A, B and C to room, in that order, and waits until
// each earlier one has heard of each later one.
func (ts *testServer) joinThree(t *testing.T, room string) (a, b, c *client) {
	t.Helper()
	a, _ = ts.join(t, room, "A")
	b, _ = ts.join(t, room, "B")
	a.expectPeer(proto.TypePeerJoined, b)
	c, _ = ts.join(t, room, "C")
	a.expectPeer(proto.TypePeerJoined, c)
	b.expectPeer(proto.TypePeerJoined, c)
	return a, b, c
}

func (ts *testServer) join(t *testing.T, room, name string) (*client, proto.Message) {
	t.Helper()
	c := ts.dial(t, room)
	c.send(proto.Message{Type: proto.TypeJoin, Version: proto.Version, Name: name})
	w := c.expect(proto.TypeWelcome)
	if w.ID == "" || w.Room != room {
		t.Fatalf("welcome = %+v, want an id and room %q", w, room)
	}
	c.id, c.name = w.ID, strings.TrimSpace(name)
	return c, w
}

// send writes m as one JSON text frame.
func (c *client) send(m any) {
	c.t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		c.t.Fatalf("marshal: %v", err)
	}
	c.sendRaw(websocket.TextMessage, b)
}

func (c *client) sendRaw(mt int, data []byte) {
	c.t.Helper()
	if err := c.ws.SetWriteDeadline(time.Now().Add(ioTimeout)); err != nil {
		c.t.Fatal(err)
	}
	if err := c.ws.WriteMessage(mt, data); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// offer sends an offer with sdp to peer to.
func (c *client) offer(to, sdp string) {
	c.t.Helper()
	c.send(proto.Message{Type: proto.TypeOffer, To: to, SDP: sdp})
}

// readFrame reads the next frame or the error that ends the connection.
func (c *client) readFrame() (proto.Message, error) {
	if err := c.ws.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		return proto.Message{}, err
	}
	mt, data, err := c.ws.ReadMessage()
	if err != nil {
		return proto.Message{}, err
	}
	if mt != websocket.TextMessage {
		c.t.Fatalf("server sent frame type %d, want text", mt)
	}
	var m proto.Message
	if err := json.Unmarshal(data, &m); err != nil {
		c.t.Fatalf("server sent bad JSON %q: %v", data, err)
	}
	return m, nil
}

// read returns the next message.
func (c *client) read() proto.Message {
	c.t.Helper()
	m, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

// expect reads the next message and checks its type.
func (c *client) expect(typ string) proto.Message {
	c.t.Helper()
	m := c.read()
	if m.Type != typ {
		c.t.Fatalf("got %+v, want a %s message", m, typ)
	}
	return m
}

// expectError reads the next message and checks it is error code for ref.
func (c *client) expectError(code, ref string) proto.Message {
	c.t.Helper()
	m := c.expect(proto.TypeError)
	if m.Code != code || m.Ref != ref || m.Message == "" {
		c.t.Fatalf("got error %+v, want code %q ref %q with a message", m, code, ref)
	}
	return m
}

// expectPeer reads the next message and checks it is typ (peer-joined or
// peer-left) about peer p.
func (c *client) expectPeer(typ string, p *client) {
	c.t.Helper()
	m := c.expect(typ)
	if m.Peer == nil || m.Peer.ID != p.id || m.Peer.Name != p.name {
		c.t.Fatalf("%s carries %+v, want {%s %s}", typ, m.Peer, p.id, p.name)
	}
}

// expectClose reads the close that ends the connection and checks its code.
// Any other message first fails the test.
func (c *client) expectClose(code int) {
	c.t.Helper()
	m, err := c.readFrame()
	if err == nil {
		c.t.Fatalf("got %+v, want close %d", m, code)
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != code {
		c.t.Fatalf("connection ended with %v, want close code %d", err, code)
	}
}

// joinMsg sends join message m (type and version are filled in) and returns
// the answer, welcome or not.
func (c *client) joinMsg(m proto.Message) proto.Message {
	c.t.Helper()
	m.Type, m.Version = proto.TypeJoin, proto.Version
	c.send(m)
	return c.read()
}

// joinAs connects to room and joins with m, expecting a welcome.
func (ts *testServer) joinAs(t *testing.T, room string, m proto.Message) (*client, proto.Message) {
	t.Helper()
	c := ts.dial(t, room)
	w := c.joinMsg(m)
	if w.Type != proto.TypeWelcome || w.Room != room {
		t.Fatalf("join %+v answered with %+v, want a welcome to %s", m, w, room)
	}
	c.id, c.name = w.ID, strings.TrimSpace(m.Name)
	return c, w
}

// drop ends the client's TCP connection without a close frame.
func (c *client) drop() {
	c.t.Helper()
	if err := c.ws.NetConn().Close(); err != nil {
		c.t.Fatal(err)
	}
}

// waitFor polls cond until it holds; it fails the test after ioTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitHeld waits until the server holds n sessions for resume.
func (ts *testServer) waitHeld(t *testing.T, n int) {
	t.Helper()
	waitFor(t, "held sessions", func() bool { return ts.Stats().Held == n })
}

// maskedFrame is a client frame: first byte b0, payload masked with the
// all-zero key.
func maskedFrame(b0 byte, payload string) []byte {
	return append([]byte{b0, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
}
