package signal

import (
	"bytes"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/videochat/videochat/signal/internal/wsconn"
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
	// leave takes the peer out of its room when the close starts, not when
	// the reader ends (after the close handshake): a close for abuse is
	// not a drop, and the room-mates hear of it at once. See expel.
	leave bool
}

// conn is one client's connection: its protocol state. Its reader
// goroutine (readLoop) lives as long as the connection, reads frames and
// runs the handlers; a writer goroutine owns every write and runs only
// while something is queued (see writer.go). Everything else talks to the
// client through Deliver, which never blocks. The WebSocket itself, and
// everything that knows its wire format, is in package wsconn. The bool
// fields sit together, so that conn fits the 352-byte size class.
type conn struct {
	srv    *Server
	ws     *wsconn.Conn
	room   string
	remote string // the client's address, for logs
	ip     string // counted against MaxConnsPerIP

	// Used by readLoop only.
	limiter    msgLimiter
	lastExtend time.Time // last read deadline extension
	// nextShedReply is the earliest time (serverClock) at which the reader
	// may send the next overloaded error; see shed.
	nextShedReply time.Duration

	// lastRead is when the last frame arrived (serverClock time); the
	// pinger skips clients that spoke recently.
	lastRead atomic.Int64
	slot     int // ping wheel slot; guarded by Server.mu

	readerExited chan struct{} // closed when the reader has ended for good

	mu    sync.Mutex
	state connState
	id    string
	sess  *session // set by hold; the session may move on to another conn
	req   closeReq // set with closing, before killed
	// viewer: the room token does not allow publishing, so the peer's
	// offers and answers must be receive-only (see handleDirected).
	viewer  bool
	closing bool
	killed  bool // the writer is to run the close
	writing bool // a writer goroutine or a direct write runs (writer.go)
	// flushDue says that a direct write left part of its frame in the
	// batch buffer, for the writer to send first; directErr is the error a
	// direct write met, for the writer to act on.
	flushDue bool
	pingDue  bool // the ping wheel asks the writer for a ping
	// While a join is in progress frames are held back so that welcome is
	// the first frame the client sees after joining.
	holding   bool
	held      [][]byte
	directErr error
	queue     []outFrame
	// inFlight is the number of room frames the writer took and is
	// writing; they count against SendQueue.
	inFlight  int
	replies   [][]byte
	replyWait chan struct{} // closed when the reply queue has room
}

func newConn(s *Server, ws *wsconn.Conn, room, remote, ip string) *conn {
	c := &conn{
		srv:          s,
		ws:           ws,
		room:         room,
		remote:       remote,
		ip:           ip,
		limiter:      newMsgLimiter(&s.cfg),
		readerExited: make(chan struct{}),
	}
	c.lastRead.Store(int64(s.clock.now()))
	return c
}

// Deliver implements Sink. It queues frame without blocking; when the queue
// is full it evicts the connection as a slow consumer and returns false.
// A connection that is already closing refuses every frame (false).
func (c *conn) Deliver(frame []byte) bool {
	at := c.srv.stamp()
	c.mu.Lock()
	if c.mayWriteDirectLocked() {
		c.writing, c.inFlight = true, 1
		c.mu.Unlock()
		c.writeDirect(frame, at)
		return true
	}
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	max := c.srv.cfg.SendQueue
	if c.holding {
		// Leave one slot for the welcome that goes out first.
		if len(c.held) < max-1 {
			c.held = append(c.held, bytes.Clone(frame))
			return true
		}
	} else if len(c.queue)+c.inFlight < max {
		c.queue = append(c.queue, outFrame{data: bytes.Clone(frame), at: at})
		c.kickLocked()
		return true
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
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.closing && len(c.replies) >= replyQueue {
		if c.replyWait == nil {
			c.replyWait = make(chan struct{})
		}
		wait := c.replyWait
		c.mu.Unlock()
		<-wait // closed by the writer when it takes the replies, or by sealLocked
		c.mu.Lock()
	}
	if c.closing {
		return
	}
	c.replies = append(c.replies, frame)
	c.kickLocked()
}

// deliverNow queues frame ahead of any frames held back for a join in
// progress; it is for the last words before a close (an error, a bye).
func (c *conn) deliverNow(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	if len(c.queue)+c.inFlight >= c.srv.cfg.SendQueue {
		c.evictLocked()
		return
	}
	c.queue = append(c.queue, outFrame{data: frame})
	c.kickLocked()
}

// evictLocked drops a client that does not read fast enough. c.mu is held.
func (c *conn) evictLocked() {
	c.loggerLocked().Warn("evicting slow consumer", "queue", c.srv.cfg.SendQueue)
	c.srv.stats.evictions.Add(1)
	c.srv.metrics.evicted(proto.CodeSlowConsumer)
	c.closeLocked(closeReq{code: wsconn.ClosePolicyViolation, reason: proto.CodeSlowConsumer, leave: true})
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
		c.signalCloseLocked()
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
	c.wakeReplierLocked()
	if !req.graceful {
		// Nothing queued will be written: let it go now, not when the
		// close is over. And unblock a write stuck on a client that does
		// not read.
		c.queue, c.replies = nil, nil
		c.ws.Abort()
	}
	return true
}

// signalClose wakes the writer to close a sealed connection.
func (c *conn) signalClose() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.signalCloseLocked()
}

func (c *conn) signalCloseLocked() {
	if !c.killed {
		c.killed = true
		c.kickLocked()
	}
}

// fail sends perr to the client and then closes the connection with code.
func (c *conn) fail(perr *proto.Error, code int) {
	c.deliverNow(c.errorFrame(perr))
	c.closeWith(closeReq{code: code, reason: perr.Code, graceful: true})
}

// expel closes the connection for abuse (flooding, an oversize frame, a
// protocol violation): perr, if not nil, then a close frame with code and
// reason (code 0: gorilla has sent one itself). The peer leaves its room
// now: it is not held for a resume, and its room-mates get peer-left
// before the close handshake, which may take CloseGrace. Only the reader
// calls it; an eviction, which happens on a delivering goroutine, leaves
// the same way from the writer (closeReq.leave, see finish).
func (c *conn) expel(perr *proto.Error, code int, reason string) {
	if perr != nil {
		c.deliverNow(c.errorFrame(perr))
	}
	c.closeWith(closeReq{code: code, reason: reason, graceful: true, leave: true})
	c.leaveRoom()
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
	// Even past SendQueue: the queue is bounded anyway, and a slow
	// consumer is cut off by WriteWait.
	c.queue = append(c.queue, outFrame{data: bye})
	c.sealLocked(closeReq{code: wsconn.CloseGoingAway, reason: proto.CodeServerShutdown, graceful: true})
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

// mayRelayFast reports whether the fast path may relay the client's
// directed messages: it has joined, and its offers and answers need no
// check of their SDP.
func (c *conn) mayRelayFast() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateJoined && !c.viewer
}

func (c *conn) isViewer() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.viewer
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

// logger returns a logger tagged with the connection's room, address and,
// once known, peer id. It is built on demand: logging is rare, and an idle
// connection should not hold a logger of its own.
func (c *conn) logger() *slog.Logger {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loggerLocked()
}

func (c *conn) loggerLocked() *slog.Logger {
	if c.id == "" {
		return c.srv.log.With("room", c.room, "remote", c.remote)
	}
	return c.srv.log.With("room", c.room, "remote", c.remote, "peer", c.id)
}

// hold starts holding frames back for a join as peer id with session sess.
func (c *conn) hold(id string, sess *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.id, c.sess = id, sess
	c.viewer = sess.canPublish != nil && !*sess.canPublish
	c.holding = true
}

// unhold undoes hold for a resume that could not take its session back;
// the connection may still join.
func (c *conn) unhold() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.id, c.sess, c.viewer = "", nil, false
	c.holding, c.held = false, nil
}

// session returns the session made or resumed by the join (nil before).
func (c *conn) session() *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

// takeQueued removes and returns the room frames queued but not yet
// taken by the writer, for a session that is being held after the
// connection dropped. The caller holds the session's lock.
func (c *conn) takeQueued() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([][]byte, len(c.queue))
	for i, f := range c.queue {
		out[i] = f.data
	}
	c.queue = nil
	return out
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
	if c.closing {
		return
	}
	at := c.srv.stamp()
	c.queue = append(c.queue, outFrame{data: welcome, at: at})
	for _, f := range held {
		c.queue = append(c.queue, outFrame{data: f, at: at})
	}
	c.kickLocked()
}

// startReading sets the connection's read limit, deadline and pong
// handler and starts its reader.
func (c *conn) startReading() {
	c.ws.SetReadLimit(c.srv.cfg.ReadLimit)
	c.extendReadDeadline(time.Now())
	c.ws.SetPongHandler(func(string) error { c.extendReadDeadline(time.Now()); return nil })
	go c.readLoop()
}

// readLoop reads frames until the connection ends, then takes the peer out
// of its room.
//
// When its stack has grown the reader goes on on a fresh goroutine before
// it waits, so that an idle reader keeps a small stack (see
// wsconn.Conn.HandOff).
func (c *conn) readLoop() {
	var mark wsconn.StackMark
	mark.Set()
	for {
		if c.ws.HandOff(&mark) {
			go c.readLoop() // the same loop on a 2 KiB stack; this one ends
			return
		}
		c.ws.Wait() // a shallow wait
		mt, r, err := c.ws.Next()
		if mt == wsconn.PongMessage {
			continue // swallowed below gorilla; its handler has run
		}
		var frame *[]byte
		if err == nil {
			frame, err = c.srv.readFrame(r)
		}
		if err != nil {
			c.readEnded(err)
			c.endReading()
			return
		}
		c.handleRead(mt, *frame)
		c.srv.putFrame(frame)
	}
}

// endReading runs when the connection's reading has ended for good.
func (c *conn) endReading() {
	defer c.srv.wg.Done()
	defer close(c.readerExited)
	c.leaveRoom()
}

// handleRead handles one frame read from the client.
func (c *conn) handleRead(mt int, data []byte) {
	now := time.Now()
	c.extendReadDeadline(now)
	c.lastRead.Store(int64(c.srv.clock.now()))
	if c.isClosing() {
		// Waiting for the client's close frame: discard, slowly.
		time.Sleep(c.limiter.pause())
		return
	}
	if c.admitFrame(now) {
		c.handleFrame(mt, data)
	}
}

// extendReadDeadline moves the read deadline to PongWait from now, at most
// every readExtendEvery: a busy connection need not touch its deadline for
// every frame.
func (c *conn) extendReadDeadline(now time.Time) {
	if now.Sub(c.lastExtend) < c.srv.readExtendEvery {
		return
	}
	c.lastExtend = now
	_ = c.ws.SetReadDeadline(now.Add(c.srv.cfg.PongWait))
}

// readEnded handles the error that ended readLoop. A drop (the network,
// the peer's TCP, a read deadline) holds the peer for a resume; a frame
// over the read limit or a WebSocket protocol violation is abuse: the
// peer leaves at once (expel). After those the reader discards what the
// client still sends until it closes, so that dropping the socket with
// unread data (a TCP reset) cannot destroy the close frame.
func (c *conn) readEnded(err error) {
	end, reason := wsconn.Classify(err)
	switch {
	case end == wsconn.EndTooLarge:
		// gorilla has sent close 1009 itself.
		c.logger().Info("frame over the read limit", "limit", c.srv.cfg.ReadLimit)
		c.expel(nil, 0, "")
		c.drain()
	case c.isClosing():
		// The client answered our close frame, or we dropped the socket.
	case end == wsconn.EndClosed:
		// The client closed on purpose: gorilla has echoed its close frame.
		c.logger().Debug("connection closed by client", "err", err)
		c.closeWith(closeReq{})
	case end == wsconn.EndViolation:
		// A frame header that breaks RFC 6455.
		c.logger().Info("websocket protocol violation", "err", err)
		c.expel(nil, wsconn.CloseProtocolError, reason)
		c.drain()
	case end == wsconn.EndDrop:
		c.logger().Info("connection lost", "err", err)
		c.connLost()
	default:
		// A violation gorilla found in a close frame's payload; it has
		// sent close 1002.
		c.logger().Info("websocket protocol violation", "err", err)
		c.expel(nil, 0, "")
		c.drain()
	}
}

// writeFailed closes the connection after a failed write. A close frame
// sent before it means the reader has just answered the client's close
// frame (gorilla echoes it from the reader): the client left on purpose,
// and the reader takes the peer out of its room. Any other error means
// the connection broke.
func (c *conn) writeFailed(err error) {
	c.logger().Debug("write failed", "err", err)
	if wsconn.IsCloseSent(err) {
		c.closeWith(closeReq{})
		return
	}
	c.connLost()
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

// drain discards raw bytes from the socket for at most CloseGrace, until
// the client closes it.
func (c *conn) drain() {
	nc := c.ws.Unframed()
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
