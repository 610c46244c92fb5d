package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/signal/proto"
)

// redisURL is the --redis flag value for a server at addr.
func redisURL(addr string) string { return "redis://" + addr + "/0" }

// proxyMode says what a tcpProxy does with traffic.
type proxyMode int

const (
	// proxyPass forwards both ways.
	proxyPass proxyMode = iota
	// proxyReset closes every connection and closes new ones at once, as
	// when the Redis server is gone.
	proxyReset
	// proxyBlackhole keeps connections open but drops every byte, as when
	// the Redis server or the network hangs.
	proxyBlackhole
)

func (m proxyMode) String() string {
	switch m {
	case proxyReset:
		return "reset"
	case proxyBlackhole:
		return "blackhole"
	}
	return "pass"
}

// tcpProxy forwards loopback TCP connections to a target and lets the test
// cut and restore the link. It is closed, and its goroutines are gone,
// when the test ends.
type tcpProxy struct {
	tb     testing.TB
	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu     sync.Mutex
	mode   proxyMode
	conns  map[*proxyConn]struct{}
	closed bool
}

// proxyConn is one client connection and its upstream.
type proxyConn struct {
	client, upstream net.Conn // upstream is nil for a connection accepted while cut
	dropped          bool     // bytes were dropped: the stream is broken for good
}

func (c *proxyConn) close() {
	_ = c.client.Close()
	if c.upstream != nil {
		_ = c.upstream.Close()
	}
}

// startProxy listens on a free loopback port and forwards to target.
func startProxy(tb testing.TB, target string) *tcpProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &tcpProxy{tb: tb, target: target, ln: ln, conns: map[*proxyConn]struct{}{}}
	p.wg.Add(1)
	go p.acceptLoop()
	tb.Cleanup(p.close)
	return p
}

// addr is the proxy's listening host:port.
func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

// cut breaks the link in the given mode (proxyReset or proxyBlackhole).
func (p *tcpProxy) cut(mode proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = mode
	if mode != proxyReset {
		return
	}
	for c := range p.conns {
		c.close()
	}
}

// restore forwards again. Connections that lost bytes while cut are closed,
// since their streams are corrupt; clients reconnect.
func (p *tcpProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = proxyPass
	for c := range p.conns {
		if c.dropped || c.upstream == nil {
			c.close()
		}
	}
}

// close stops the proxy and waits for its goroutines.
func (p *tcpProxy) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.close()
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	p.wg.Wait()
}

func (p *tcpProxy) acceptLoop() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(client)
	}
}

// serve connects client to the target (unless the link is cut) and
// copies both ways until either side closes.
func (p *tcpProxy) serve(client net.Conn) {
	defer p.wg.Done()
	c := &proxyConn{client: client}
	p.mu.Lock()
	mode, closed := p.mode, p.closed
	p.mu.Unlock()
	if closed || mode == proxyReset {
		_ = client.Close()
		return
	}
	if mode == proxyPass {
		up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			_ = client.Close()
			return
		}
		c.upstream = up
	}
	if !p.track(c) {
		c.close()
		return
	}
	defer p.untrack(c)
	if c.upstream == nil { // blackholed from the start: swallow until restore
		p.pipe(c, client, io.Discard)
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.pipe(c, c.upstream, client)
	}()
	p.pipe(c, client, c.upstream)
	<-done
}

// track registers c unless the link changed or the proxy closed meanwhile.
func (p *tcpProxy) track(c *proxyConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.mode == proxyReset || (p.mode == proxyPass) != (c.upstream != nil) {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *tcpProxy) untrack(c *proxyConn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.close()
}

// pipe copies src to dst, dropping the bytes while the link is
// blackholed. It closes both ends of c when src ends.
func (p *tcpProxy) pipe(c *proxyConn, src io.Reader, dst io.Writer) {
	defer c.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			drop := p.mode != proxyPass
			if drop {
				c.dropped = true
			}
			p.mu.Unlock()
			if !drop {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// startRedisServer runs `videochat serve --redis URL` plus args and waits
// until /readyz says 200: "serving on" is printed before the node has
// subscribed, and joins fail with "unavailable" until it has.
func startRedisServer(ctx context.Context, t *testing.T, redisAddr string, args ...string) (*proc, string) {
	t.Helper()
	p, base := startServer(ctx, t, append([]string{"--redis", redisURL(redisAddr)}, args...)...)
	waitStatus(ctx, t, base, "/readyz", http.StatusOK)
	return p, base
}

// httpStatus returns the status code of GET base+path, or 0 if the request
// failed.
func httpStatus(ctx context.Context, base, path string) int {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// waitStatus polls GET base+path until it answers want and returns how
// long that took.
func waitStatus(ctx context.Context, tb testing.TB, base, path string, want int) time.Duration {
	tb.Helper()
	start := time.Now()
	last := 0
	for {
		if last = httpStatus(ctx, base, path); last == want {
			return time.Since(start)
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("%s%s never answered %d (last %d): %v", base, path, want, last, ctx.Err())
		case <-time.After(50 * time.Millisecond): // polling an external process
		}
	}
}

// wsPeer is a raw WebSocket signalling client. One goroutine reads; every
// message lands in msgs, in order.
type wsPeer struct {
	tb   testing.TB
	name string
	ws   *websocket.Conn
	msgs chan proto.Message
	quit chan struct{} // closed by close: the reader stops
	done chan struct{} // closed when the reader has stopped

	closeOnce sync.Once

	wmu sync.Mutex // serialises writes
}

// dialPeer opens /ws/room on base without joining yet. It is closed when
// the test ends.
func dialPeer(ctx context.Context, tb testing.TB, base, room, name string) *wsPeer {
	tb.Helper()
	u := "ws" + strings.TrimPrefix(base, "http") + "/ws/" + room
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
	if err != nil {
		tb.Fatalf("dial %s: %v", u, err)
	}
	p := &wsPeer{tb: tb, name: name, ws: ws, msgs: make(chan proto.Message, 1024),
		quit: make(chan struct{}), done: make(chan struct{})}
	go p.readLoop()
	tb.Cleanup(p.close)
	return p
}

// joinPeer dials and joins; it returns the peer and the server's first
// answer (welcome or error).
func joinPeer(ctx context.Context, tb testing.TB, base, room, name string) (*wsPeer, proto.Message) {
	tb.Helper()
	p := dialPeer(ctx, tb, base, room, name)
	p.sendJoin()
	return p, p.first(ctx)
}

// mustJoin is joinPeer that requires a welcome.
func mustJoin(ctx context.Context, tb testing.TB, base, room, name string) (*wsPeer, proto.Message) {
	tb.Helper()
	p, m := joinPeer(ctx, tb, base, room, name)
	if m.Type != proto.TypeWelcome {
		tb.Fatalf("%s joining %s on %s: got %s %q (%s), want welcome", name, room, base, m.Type, m.Code, m.Message)
	}
	return p, m
}

func (p *wsPeer) readLoop() {
	defer close(p.done)
	defer close(p.msgs)
	for {
		_, data, err := p.ws.ReadMessage()
		if err != nil {
			return
		}
		var m proto.Message
		if err := json.Unmarshal(data, &m); err != nil {
			p.tb.Errorf("%s: server sent a frame that is not a message: %q", p.name, data)
			return
		}
		select {
		case p.msgs <- m:
		case <-p.quit:
			return
		}
	}
}

// send writes one message.
func (p *wsPeer) send(m proto.Message) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	return p.ws.WriteMessage(websocket.TextMessage, proto.Encode(m))
}

func (p *wsPeer) sendJoin() {
	p.tb.Helper()
	if err := p.send(proto.Message{Type: proto.TypeJoin, Version: proto.Version, Name: p.name}); err != nil {
		p.tb.Fatalf("%s: send join: %v", p.name, err)
	}
}

// first returns the next message whatever its type.
func (p *wsPeer) first(ctx context.Context) proto.Message {
	p.tb.Helper()
	select {
	case m, ok := <-p.msgs:
		if !ok {
			p.tb.Fatalf("%s: connection closed before any message", p.name)
		}
		return m
	case <-ctx.Done():
		p.tb.Fatalf("%s: no message: %v", p.name, ctx.Err())
	}
	return proto.Message{}
}

// next returns the next message of type typ; the skipped ones are passed
// to seen (which may be nil).
func (p *wsPeer) next(ctx context.Context, typ string, seen func(proto.Message)) proto.Message {
	p.tb.Helper()
	for {
		select {
		case m, ok := <-p.msgs:
			if !ok {
				p.tb.Fatalf("%s: connection closed while waiting for %s", p.name, typ)
			}
			if m.Type == typ {
				return m
			}
			if seen != nil {
				seen(m)
			}
		case <-ctx.Done():
			p.tb.Fatalf("%s: no %s: %v", p.name, typ, ctx.Err())
		}
	}
}

// close drops the connection without a leave message and waits for the
// reader. It may be called more than once.
func (p *wsPeer) close() {
	p.closeOnce.Do(func() { close(p.quit) })
	_ = p.ws.Close()
	<-p.done
}
