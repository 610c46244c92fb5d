package signal

import (
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
// goroutine (readLoop, read.go) lives as long as the connection, reads
// frames and routes them; a writer goroutine owns every write and runs
// only while something is queued (writer.go). Everything else talks to the
// client through Deliver, which never blocks. join.go admits it to its
// room; this file holds its state and how it closes. The WebSocket itself, and
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
	// nextShedReply is the earliest time (Server.now) at which the reader
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
	c.lastRead.Store(int64(s.now()))
	return c
}

// closeWith asks the writer to close the connection as req says. Only the
// first request counts.
func (c *conn) closeWith(req closeReq) {
	c.mu.Lock()
	defer c.mu.Unlock()
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

// fastSender returns the client's peer id and whether the fast path may
// relay its directed messages: it has joined, and its offers and answers
// need no check of their SDP.
func (c *conn) fastSender() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id, c.state == stateJoined && !c.viewer
}

func (c *conn) getState() connState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
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

// connLost closes a connection that broke (a network error, a write that
// failed, no pong in time). A joined peer's session is held for a resume
// instead of leaving, unless the connection was already closing for
// another reason.
func (c *conn) connLost() {
	c.mu.Lock()
	sess := c.sess
	hold := !c.srv.cfg.DisableResume && c.state == stateJoined && !c.closing && sess != nil
	c.mu.Unlock()
	if hold && sess.detach(c) { // not under c.mu: session.mu comes first
		c.logger().Info("holding session for resume", "grace", c.srv.cfg.ResumeGrace)
	}
	c.closeWith(closeReq{})
}

// handshakeExpired closes the connection if it has not joined yet.
func (c *conn) handshakeExpired() {
	if c.getState() == stateNew {
		c.fail(proto.Errorf(proto.CodeHandshakeTimeout, "no join message within %v", c.srv.cfg.HandshakeTimeout),
			wsconn.ClosePolicyViolation)
	}
}
