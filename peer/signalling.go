package peer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/signal/proto"
)

const (
	// handshakeTimeout bounds dialling plus the join/welcome exchange.
	handshakeTimeout = 10 * time.Second
	// writeTimeout bounds one WebSocket write.
	writeTimeout = 10 * time.Second
	// readLimit is the largest frame the client accepts (SDPs, big rosters).
	readLimit = 1 << 20
	// closeGrace is how long close waits for the server to end the socket.
	closeGrace = 500 * time.Millisecond
)

// sigConn is one signalling WebSocket after a successful join. One reader
// goroutine feeds in; one writer goroutine owns every write. A Peer may
// replace its sigConn (reconnect) while the outgoing queue stays.
type sigConn struct {
	ws  *websocket.Conn
	log *slog.Logger

	in       chan proto.Message // closed by the reader when the socket ends
	stop     chan struct{}      // closed by close(): writer says goodbye
	leave    bool               // set before stop is closed
	readDone chan struct{}
	wrDone   chan struct{}

	mu      sync.Mutex
	readErr error
	once    sync.Once
}

// dial opens a signalling connection for p: the first join, or a resume
// with the last resume token.
func (p *Peer) dial(ctx context.Context) (*sigConn, proto.Message, error) {
	p.mu.Lock()
	j := proto.Message{Type: proto.TypeJoin, Version: proto.Version, Name: p.cfg.Name,
		Token: p.cfg.Token, Resume: p.resumeTok}
	p.mu.Unlock()
	return dialSignal(ctx, p.wsURL, j, p.log)
}

// dialSignal opens the WebSocket, sends the join j and waits for the
// welcome. A coded refusal from the server comes back as *proto.Error.
func dialSignal(ctx context.Context, wsURL string, j proto.Message, log *slog.Logger) (*sigConn, proto.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	d := websocket.Dialer{HandshakeTimeout: handshakeTimeout}
	ws, _, err := d.DialContext(ctx, wsURL, nil)
	if err != nil {
		return nil, proto.Message{}, fmt.Errorf("dial %s: %w", wsURL, err)
	}
	ws.SetReadLimit(readLimit)
	welcome, err := join(ctx, ws, j)
	if err != nil {
		_ = ws.Close()
		return nil, proto.Message{}, err
	}
	c := &sigConn{
		ws: ws, log: log,
		in:       make(chan proto.Message, 64),
		stop:     make(chan struct{}),
		readDone: make(chan struct{}),
		wrDone:   make(chan struct{}),
	}
	return c, welcome, nil
}

// join performs the join → welcome exchange on a fresh socket.
func join(ctx context.Context, ws *websocket.Conn, j proto.Message) (proto.Message, error) {
	deadline, _ := ctx.Deadline()
	_ = ws.SetWriteDeadline(deadline)
	_ = ws.SetReadDeadline(deadline)
	stopWatch := context.AfterFunc(ctx, func() { _ = ws.SetReadDeadline(time.Unix(1, 0)) })
	defer stopWatch()
	if err := ws.WriteMessage(websocket.TextMessage, proto.Encode(j)); err != nil {
		return proto.Message{}, fmt.Errorf("send join: %w", err)
	}
	_, data, err := ws.ReadMessage()
	if err != nil {
		if ctx.Err() != nil {
			abandonJoin(ws)
			return proto.Message{}, fmt.Errorf("wait for welcome: %w", ctx.Err())
		}
		return proto.Message{}, fmt.Errorf("wait for welcome: %w", err)
	}
	m, err := decodeServer(data)
	if err != nil {
		return proto.Message{}, err
	}
	switch m.Type {
	case proto.TypeWelcome:
	case proto.TypeError, proto.TypeBye:
		return proto.Message{}, &proto.Error{Code: m.Code, Message: m.Message, Ref: m.Ref}
	default:
		return proto.Message{}, fmt.Errorf("%w: got %q", ErrNoWelcome, m.Type)
	}
	if m.ID == "" {
		return proto.Message{}, fmt.Errorf("%w: welcome without id", ErrNoWelcome)
	}
	_ = ws.SetReadDeadline(time.Time{})
	_ = ws.SetWriteDeadline(time.Time{})
	return m, nil
}

// abandonJoin tells the server, best effort, that the join sent on ws is
// given up (the peer was interrupted, or the welcome took too long). The
// server may have admitted the peer already: without a leave it would hold
// the peer's place for a resume, and the others would see it go only when
// the grace period ends.
func abandonJoin(ws *websocket.Conn) {
	deadline := time.Now().Add(closeGrace)
	_ = ws.SetWriteDeadline(deadline)
	if ws.WriteMessage(websocket.TextMessage, proto.Encode(proto.Message{Type: proto.TypeLeave})) != nil {
		return
	}
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadline)
}

// decodeServer parses a server-to-client frame. proto.Decode only accepts
// client types, so the envelope is parsed directly here.
func decodeServer(data []byte) (proto.Message, error) {
	var m proto.Message
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("bad frame from server: %w", err)
	}
	if m.Type == "" {
		return m, errors.New("bad frame from server: no type")
	}
	return m, nil
}

// start launches the reader and the writer. The writer sends every message
// from out until close is called.
func (c *sigConn) start(out <-chan proto.Message) {
	go c.readLoop()
	go c.writeLoop(out)
}

func (c *sigConn) readLoop() {
	defer close(c.readDone)
	defer close(c.in)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			return
		}
		m, err := decodeServer(data)
		if err != nil {
			c.log.Warn("ignoring frame", "err", err)
			continue
		}
		select {
		case c.in <- m:
		case <-c.stop:
			return
		}
	}
}

func (c *sigConn) writeLoop(out <-chan proto.Message) {
	defer close(c.wrDone)
	for {
		// A stopping writer takes nothing more from out: what is left
		// there goes out on the next connection.
		select {
		case <-c.stop:
			c.goodbye()
			return
		default:
		}
		select {
		case m := <-out:
			if err := c.write(m); err != nil {
				c.log.Warn("signalling write failed", "type", m.Type, "err", err)
				_ = c.ws.Close() // the reader notices and ends
				return
			}
		case <-c.stop:
			c.goodbye()
			return
		}
	}
}

// goodbye sends leave (when asked to) and a normal close frame.
func (c *sigConn) goodbye() {
	if c.leave {
		_ = c.write(proto.Message{Type: proto.TypeLeave})
	}
	_ = c.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
		time.Now().Add(time.Second))
}

func (c *sigConn) write(m proto.Message) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	return c.ws.WriteMessage(websocket.TextMessage, proto.Encode(m))
}

// err reports why the reader ended; valid after in is closed. A close by
// the server with proto.CloseReplaced comes back as *proto.Error
// (replaced), anything else wraps ErrSignallingLost.
func (c *sigConn) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if websocket.IsCloseError(c.readErr, proto.CloseReplaced) {
		return &proto.Error{Code: proto.CodeReplaced, Message: "another connection resumed this session"}
	}
	if c.readErr == nil {
		return ErrSignallingLost
	}
	return fmt.Errorf("%w: %v", ErrSignallingLost, c.readErr)
}

// isReplaced reports whether err says that another connection took our
// session over: resuming again would take it back and forth.
func isReplaced(err error) bool {
	var perr *proto.Error
	return errors.As(err, &perr) && perr.Code == proto.CodeReplaced
}

// close ends the connection and waits for both goroutines. With leave it
// says goodbye: leave, a normal close frame, and a moment for the server to
// end the socket. Without, the socket is closed at once (it already ended
// or the server is going away), so a write stuck on a dead peer does not
// hold up the reconnect. Safe to call more than once.
func (c *sigConn) close(leave bool) {
	c.once.Do(func() {
		c.leave = leave
		close(c.stop)
		if !leave {
			_ = c.ws.Close()
		}
		<-c.wrDone
		select {
		case <-c.readDone:
		case <-time.After(closeGrace):
		}
		_ = c.ws.Close()
		<-c.readDone
	})
}
