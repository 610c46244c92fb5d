package signal

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/signal/proto"
)

// replyQueue is the number of queued replies to a client's own messages.
const replyQueue = 16

// connState is where a connection is in its life: waiting for its join,
// in a room, or done with the room (left, or the join failed).
type connState int

const (
	stateNew connState = iota
	stateJoined
	stateLeft
)

// closeReq says how a connection closes.
type closeReq struct {
	// code and reason go in the close frame; code 0 sends none (the client
	// already went, or gorilla sent one itself).
	code   int
	reason string
	// graceful flushes the frames already queued before the close frame
	// and waits up to CloseGrace for the client to answer it. Otherwise the
	// close frame is best effort and the TCP connection is dropped at once.
	graceful bool
}

// conn is one client's WebSocket. Exactly two goroutines use it: readLoop
// reads frames and runs the handlers; writeLoop owns every write, the write
// deadlines, pings and the handshake timer. Everything else talks to the
// client through Deliver, which never blocks.
type conn struct {
	srv     *Server
	ws      *websocket.Conn
	room    string
	ip      string      // counted against MaxConnsPerIP
	limiter *msgLimiter // used by readLoop only

	send       chan []byte   // bounded queue of room frames, drained by writeLoop
	replies    chan []byte   // answers to the client's own messages
	kill       chan struct{} // closed once the connection is to close
	killOnce   sync.Once
	readerDone chan struct{} // closed when readLoop has returned

	mu      sync.Mutex
	log     *slog.Logger
	state   connState
	id      string
	sess    *session // set by hold; the session may move on to another conn
	closing bool
	req     closeReq // set with closing, before kill is closed
	// While a join is in progress frames are held back so that welcome is
	// the first frame the client sees after joining.
	holding bool
	held    [][]byte
}

func newConn(s *Server, ws *websocket.Conn, room, ip string, log *slog.Logger) *conn {
	return &conn{
		srv:        s,
		ws:         ws,
		room:       room,
		ip:         ip,
		limiter:    newMsgLimiter(&s.cfg),
		log:        log,
		send:       make(chan []byte, s.cfg.SendQueue),
		replies:    make(chan []byte, replyQueue),
		kill:       make(chan struct{}),
		readerDone: make(chan struct{}),
	}
}

// Deliver implements Sink. It queues frame without blocking; when the queue
// is full it evicts the connection as a slow consumer and returns false.
// A connection that is already closing refuses every frame (false).
func (c *conn) Deliver(frame []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	if c.holding {
		// Leave one slot for the welcome that goes out first.
		if len(c.held) < cap(c.send)-1 {
			c.held = append(c.held, frame)
			return true
		}
	} else {
		select {
		case c.send <- frame:
			return true
		default:
		}
	}
	c.evictLocked()
	return false
}

// reply queues an answer to the client's own message (an error). Replies
// have their own small queue, and unlike Deliver reply waits for room in it:
// a client that floods the server with bad messages is slowed down by its
// own replies (its frames stay unread), and they never crowd out room
// events. Only readLoop calls it.
func (c *conn) reply(frame []byte) {
	if c.isClosing() {
		return
	}
	select {
	case c.replies <- frame:
	case <-c.kill:
	}
}

// deliverNow queues frame ahead of any frames held back for a join in
// progress; it is for the last words before a close (an error, a bye).
func (c *conn) deliverNow(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	select {
	case c.send <- frame:
	default:
		c.evictLocked()
	}
}

// evictLocked drops a client that does not read fast enough. c.mu is held.
func (c *conn) evictLocked() {
	c.log.Warn("evicting slow consumer", "queue", cap(c.send))
	c.srv.stats.evictions.Add(1)
	c.closeLocked(closeReq{code: websocket.ClosePolicyViolation, reason: proto.CodeSlowConsumer})
}

// closeWith asks the writer to close the connection as req says. Only the
// first request counts.
func (c *conn) closeWith(req closeReq) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(req)
}

func (c *conn) closeLocked(req closeReq) {
	if c.sealLocked(req) {
		c.signalClose()
	}
}

// sealLocked marks the connection closing as req says, unless it already
// is: from then on it refuses frames. The writer acts on it once
// signalClose is called. c.mu is held.
func (c *conn) sealLocked(req closeReq) bool {
	if c.closing {
		return false
	}
	c.closing = true
	c.req = req
	c.held = nil
	if !req.graceful {
		// Unblock a write stuck on a client that does not read.
		_ = c.ws.NetConn().SetWriteDeadline(time.Now())
	}
	return true
}

// signalClose wakes the writer to close a sealed connection.
func (c *conn) signalClose() {
	c.killOnce.Do(func() { close(c.kill) })
}

// fail sends perr to the client and then closes the connection with code.
func (c *conn) fail(perr *proto.Error, code int) {
	c.deliverNow(proto.Encode(perr.Msg()))
	c.closeWith(closeReq{code: code, reason: perr.Code, graceful: true})
}

// sealForShutdown queues a bye for the client and seals the connection
// for a graceful close with 1001; signalClose starts the close. Shutdown
// seals every connection before it closes any, so that no client hears of
// a room-mate leaving before its own bye.
func (c *conn) sealForShutdown() {
	bye := proto.Encode(byeMessage())
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	select {
	case c.send <- bye:
	default: // a full queue: the client is a slow consumer anyway
	}
	c.sealLocked(closeReq{code: websocket.CloseGoingAway, reason: proto.CodeServerShutdown, graceful: true})
}

// byeMessage tells a client that the server is going away.
func byeMessage() proto.Message {
	return proto.Message{Type: proto.TypeBye, Code: proto.CodeServerShutdown, Message: "the server is shutting down"}
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

func (c *conn) getState() connState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

func (c *conn) setState(st connState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state = st
}

// peerID returns the id assigned at join ("" before).
func (c *conn) peerID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

// logger returns the connection's logger, tagged with its peer id once joined.
func (c *conn) logger() *slog.Logger {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log
}

// hold starts holding frames back for a join as peer id with session sess.
func (c *conn) hold(id string, sess *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.id, c.sess = id, sess
	c.holding = true
}

// unhold undoes hold for a resume that could not take its session back;
// the connection may still join.
func (c *conn) unhold() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.id, c.sess = "", nil
	c.holding, c.held = false, nil
}

// session returns the session made or resumed by the join (nil before).
func (c *conn) session() *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

// takeQueued removes and returns the room frames queued but not yet
// written, for a session that is being held after the connection dropped.
func (c *conn) takeQueued() [][]byte {
	var out [][]byte
	for {
		select {
		case f := <-c.send:
			out = append(out, f)
		default:
			return out
		}
	}
}

// release ends a join: on success it queues welcome and then the frames held
// back meanwhile and marks the connection joined; with a nil welcome (the
// join failed) it drops them.
func (c *conn) release(welcome []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	held := c.held
	c.holding, c.held = false, nil
	if welcome == nil {
		c.state = stateLeft
		return
	}
	c.state = stateJoined
	c.log = c.log.With("peer", c.id)
	if c.closing {
		return
	}
	for _, f := range append([][]byte{welcome}, held...) {
		select {
		case c.send <- f:
		default:
			c.evictLocked()
			return
		}
	}
}

// writeLoop owns every write to the client. It ends after the connection
// is closed and readLoop has returned.
func (c *conn) writeLoop() {
	defer c.srv.untrack(c)
	cfg := &c.srv.cfg
	ping := time.NewTicker(cfg.PingInterval)
	defer ping.Stop()
	handshake := time.NewTimer(cfg.HandshakeTimeout)
	defer handshake.Stop()
	for {
		var err error
		select {
		case f := <-c.send:
			err = c.write(f)
		case f := <-c.replies:
			err = c.write(f)
		case <-ping.C:
			err = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(cfg.WriteWait))
		case <-handshake.C:
			if c.getState() == stateNew {
				c.fail(proto.Errorf(proto.CodeHandshakeTimeout, "no join message within %v", cfg.HandshakeTimeout),
					websocket.ClosePolicyViolation)
			}
		case <-c.kill:
			c.finish()
			return
		}
		if err != nil {
			c.writeFailed(err)
		}
	}
}

func (c *conn) write(frame []byte) error {
	if err := c.ws.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteWait)); err != nil {
		return err
	}
	return c.ws.WriteMessage(websocket.TextMessage, frame)
}

// finish runs the close that c.req describes, drops the TCP connection and
// waits for readLoop to return.
func (c *conn) finish() {
	req := c.req // written before kill was closed
	cfg := &c.srv.cfg
	if req.graceful {
		c.flush()
	}
	if req.code != 0 {
		wait := cfg.WriteWait
		if !req.graceful {
			wait = min(wait, time.Second)
		}
		msg := websocket.FormatCloseMessage(req.code, req.reason)
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(wait))
		c.logger().Info("closing connection", "code", req.code, "reason", req.reason)
	}
	if req.graceful {
		grace := time.NewTimer(cfg.CloseGrace)
		select {
		case <-c.readerDone:
		case <-grace.C:
		}
		grace.Stop()
	}
	_ = c.ws.Close()
	<-c.readerDone
}

// flush writes the frames queued so far; it stops at the first error.
func (c *conn) flush() {
	for _, q := range []chan []byte{c.replies, c.send} {
		for range len(q) {
			if c.write(<-q) != nil {
				return
			}
		}
	}
}

// readLoop reads frames until the connection ends, then takes the peer out
// of its room.
func (c *conn) readLoop() {
	defer c.srv.wg.Done()
	defer close(c.readerDone)
	defer c.leaveRoom()
	c.ws.SetReadLimit(c.srv.cfg.ReadLimit)
	c.extendReadDeadline()
	c.ws.SetPongHandler(func(string) error { c.extendReadDeadline(); return nil })
	for {
		mt, data, err := c.ws.ReadMessage()
		if err != nil {
			c.readEnded(err)
			return
		}
		c.extendReadDeadline()
		if c.isClosing() {
			// Waiting for the client's close frame: discard, slowly.
			time.Sleep(c.limiter.pause())
			continue
		}
		if c.admitFrame() {
			c.handleFrame(mt, data)
		}
	}
}

func (c *conn) extendReadDeadline() {
	_ = c.ws.SetReadDeadline(time.Now().Add(c.srv.cfg.PongWait))
}

// readEnded handles the error that ended readLoop.
func (c *conn) readEnded(err error) {
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		// gorilla has sent close 1009 itself. Read and discard what the
		// client still sends until it closes, so that dropping the socket
		// with unread data (a TCP reset) cannot destroy that close frame.
		c.logger().Info("frame over the read limit", "limit", c.srv.cfg.ReadLimit)
		c.closeWith(closeReq{graceful: true})
		c.leaveRoom() // tell the room now, not after the drain
		c.drain()
	case c.isClosing():
		// The client answered our close frame, or we dropped the socket.
	case isCloseFrame(err):
		// The client closed on purpose: gorilla has echoed its close frame.
		c.logger().Debug("connection closed by client", "err", err)
		c.closeWith(closeReq{})
	default:
		c.logger().Info("connection lost", "err", err)
		c.connLost()
	}
}

// writeFailed closes the connection after a failed write. ErrCloseSent
// means the reader has just answered the client's close frame (gorilla
// echoes it from the reader): the client left on purpose, and the reader
// takes the peer out of its room. Any other error means the connection
// broke.
func (c *conn) writeFailed(err error) {
	c.logger().Debug("write failed", "err", err)
	if errors.Is(err, websocket.ErrCloseSent) {
		c.closeWith(closeReq{})
		return
	}
	c.connLost()
}

// isCloseFrame reports whether err reports a close frame from the client
// (gorilla reports a connection that ended without one as 1006).
func isCloseFrame(err error) bool {
	var ce *websocket.CloseError
	return errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure
}

// connLost closes a connection that broke (a network error, a write that
// failed, no pong in time). A joined peer's session is held for a resume
// instead of leaving, unless the connection was already closing for
// another reason.
func (c *conn) connLost() {
	if !c.srv.cfg.DisableResume && c.getState() == stateJoined && !c.isClosing() {
		if sess := c.session(); sess != nil && sess.detach(c) {
			c.logger().Info("holding session for resume", "grace", c.srv.cfg.ResumeGrace)
		}
	}
	c.closeWith(closeReq{})
}

// drain discards raw bytes from the socket for at most CloseGrace.
func (c *conn) drain() {
	nc := c.ws.NetConn()
	if nc.SetReadDeadline(time.Now().Add(c.srv.cfg.CloseGrace)) == nil {
		_, _ = io.Copy(io.Discard, nc)
	}
}

// leaveRoom takes a joined peer out of its room when the connection ends.
func (c *conn) leaveRoom() {
	if c.getState() == stateJoined {
		c.leave()
	}
}
