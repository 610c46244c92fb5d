package signal

import (
	"context"
	"errors"
	"io"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/videochat/videochat/signal/internal/wsconn"
	"github.com/videochat/videochat/signal/proto"
)

// The read side of a connection, and the path of a message through the
// server: readLoop reads a frame, route admits it and picks its path, and
// a directed message (offer, answer, candidate) ends in relay, which hands
// it to the Backend for its target (see DESIGN.md, "How a message flows").
//
// Everything here runs on the connection's reader goroutine. The path of a
// directed message in the usual shape (readLoop, route, relayFast, relay)
// keeps its stack frames small, so that the reader's stack does not
// outgrow 2 KiB; its rare branches are kept out of line (//go:noinline),
// and everything else runs on a fresh goroutine (wsconn.OnFreshStack).

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
			c.leaveRoom()
			close(c.readerExited) // reading has ended for good
			c.srv.wg.Done()
			return
		}
		c.route(mt, *frame)
		c.srv.putFrame(frame)
	}
}

// readFrame reads one message from r into a pooled buffer; putFrame
// returns it. The buffer is only used while the message is handled, so an
// idle connection holds none.
func (s *Server) readFrame(r io.Reader) (*[]byte, error) {
	bp := s.frames.Get().(*[]byte)
	b := (*bp)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			*bp = b
			if err == io.EOF {
				return bp, nil
			}
			s.putFrame(bp)
			return nil, err
		}
	}
}

// putFrame returns a buffer from readFrame to the pool.
func (s *Server) putFrame(bp *[]byte) {
	if cap(*bp) > 64<<10 {
		return // an unusually large message: let it go
	}
	*bp = (*bp)[:0]
	s.frames.Put(bp)
}

// route is the one admit-and-route decision for a frame read from the
// client. It extends the read deadline; a closing connection discards the
// frame (slowly); the rate limit may drop it (admitFrame); a joined
// peer's directed message in the usual shape is relayed without decoding
// it (relayFast, fastpath.go); everything else is decoded in full on a
// fresh goroutine (handleSlow).
func (c *conn) route(mt int, data []byte) {
	now := time.Now()
	c.extendReadDeadline(now)
	c.lastRead.Store(int64(c.srv.now()))
	if c.isClosing() {
		// Waiting for the client's close frame: discard, slowly.
		time.Sleep(c.limiter.pause())
		return
	}
	if !c.admitFrame(now) {
		return
	}
	if self, ok := c.fastSender(); ok && mt == wsconn.TextMessage && c.relayFast(data, self) {
		return
	}
	wsconn.OnFreshStack(func() { c.handleSlow(mt, data) })
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

// admitFrame applies the rate limit to one frame from the client, arrived
// at now, and reports whether to handle it.
func (c *conn) admitFrame(now time.Time) bool {
	v := c.limiter.judge(now)
	if v == admit {
		return true
	}
	c.srv.metrics.dropped.Inc()
	defer time.Sleep(c.limiter.pause()) // back-pressure, see pause
	switch v {
	case dropFirst:
		c.reply(c.errorFrame(proto.Errorf(proto.CodeRateLimited, "too many messages; this one was dropped")))
	case cutOff:
		c.srv.metrics.evictions.WithLabelValues(proto.CodeRateLimited).Inc()
		c.logger().Warn("closing a connection that keeps exceeding the rate limit")
		c.expel(proto.Errorf(proto.CodeRateLimited, "too many messages"), wsconn.ClosePolicyViolation, proto.CodeRateLimited)
	}
	return false
}

// relayFast relays data if it is a directed message in the usual shape
// and reports whether it was; self is the sender's id.
func (c *conn) relayFast(data []byte, self string) bool {
	out := c.srv.frames.Get().(*[]byte)
	defer c.srv.putFrame(out) // sinks and backends keep no frame (see Sink)
	typ, kind, to, ok := spliceDirected(data, self, out)
	if !ok {
		return false
	}
	c.srv.metrics.in[kind].Inc()
	c.relay(typ, to, self, *out)
	return true
}

// relay sends frame, a directed message of type typ from peer self, to
// peer to. A failure is answered with an error naming to.
func (c *conn) relay(typ, to, self string, frame []byte) {
	if to == self {
		c.rejectToSelf(typ)
		return
	}
	if rc := c.srv.relayCap; rc != nil && !rc.Allow() { // Config.RelayRate
		c.shed(typ)
		return
	}
	if err := c.srv.send(c.room, to, frame); err != nil {
		c.relayFailed(err, typ, to)
	}
}

// shed drops a directed message of type typ over the relay cap: it counts
// it and tells the sender, at most once every shedReplyEvery; kept out of
// line (see the top of the file).
//
//go:noinline
func (c *conn) shed(typ string) {
	c.srv.metrics.shed.Inc()
	now := c.srv.now()
	if now < c.nextShedReply {
		return
	}
	c.nextShedReply = now + shedReplyEvery
	c.reply(c.errorFrame(proto.Errorf(proto.CodeOverloaded,
		"the server is over its relay capacity and dropped this message; more may be dropped within the next 10 s").WithRef(typ)))
}

// rejectToSelf answers a directed message of type typ addressed to its
// sender; kept out of line (see the top of the file).
//
//go:noinline
func (c *conn) rejectToSelf(typ string) {
	c.reject(proto.Errorf(proto.CodeBadMessage, "a peer cannot send to itself").WithRef(typ))
}

// relayFailed answers a directed message of type typ to peer to that the
// Backend refused; kept out of line (see the top of the file).
//
//go:noinline
func (c *conn) relayFailed(err error, typ, to string) {
	msg := c.backendError(err, typ).Msg()
	msg.To = to
	c.srv.metrics.errorSent(msg.Code)
	c.reply(proto.Encode(msg))
}

// send hands a directed frame to the Backend. A NonBlocking backend (the
// MemoryBackend) gets no timeout: a context with a timer per message would
// cost more than the rest of the relay.
func (s *Server) send(room, to string, frame []byte) error {
	if s.inlineBackend {
		return s.backend.Send(context.Background(), room, to, frame)
	}
	ctx, cancel := s.backendContext()
	defer cancel()
	return s.backend.Send(ctx, room, to, frame)
}

// handleSlow decodes a frame that is not a directed message in the usual
// shape in full and dispatches it by type. A text frame that is not valid UTF-8 fails the connection with
// 1007 (RFC 6455 section 8.1), before or after the join; the fast path
// accepts only valid UTF-8, so the check costs it nothing.
func (c *conn) handleSlow(mt int, data []byte) {
	switch {
	case mt != wsconn.TextMessage:
		c.srv.metrics.in[inInvalid].Inc()
		c.reject(proto.Errorf(proto.CodeBadMessage, "binary frames are not part of the protocol; send JSON text frames"))
		return
	case !utf8.Valid(data):
		c.srv.metrics.in[inInvalid].Inc()
		c.logger().Info("text frame is not valid UTF-8")
		c.expel(proto.Errorf(proto.CodeBadMessage, "text frames must be valid UTF-8"),
			wsconn.CloseInvalidFramePayloadData, proto.CodeBadMessage)
		return
	}
	m, perr := proto.Decode(data)
	kind := slices.Index(inKindNames[:], m.Type) // the messages_in_total kind
	if perr != nil || kind < 0 {
		kind = inInvalid
	}
	c.srv.metrics.in[kind].Inc()
	if perr != nil {
		c.reject(perr)
		return
	}
	if c.getState() == stateNew && m.Type != proto.TypeJoin {
		c.reject(proto.Errorf(proto.CodeNotJoined, "the first message must be a join").WithRef(m.Type))
		return
	}
	switch m.Type {
	case proto.TypeJoin:
		c.handleJoin(m)
	case proto.TypeLeave:
		c.leave()
		c.closeWith(closeReq{code: wsconn.CloseNormalClosure, reason: "left", graceful: true})
	case proto.TypeOffer, proto.TypeAnswer, proto.TypeCandidate:
		c.handleDirected(m)
	}
}

// handleDirected relays a decoded offer, answer or candidate to its target
// with from set to the sender's id.
func (c *conn) handleDirected(m proto.Message) {
	if perr := proto.ValidateClient(&m); perr != nil {
		c.reject(perr)
		return
	}
	c.mu.Lock()
	self, viewer := c.id, c.viewer
	c.mu.Unlock()
	if m.Type != proto.TypeCandidate && viewer && proto.SendsMedia(m.SDP) {
		c.reject(proto.Errorf(proto.CodeForbidden,
			"this peer's room token does not allow publishing: its offers and answers must not send audio or video (use recvonly)").WithRef(m.Type))
		return
	}
	frame := proto.Encode(proto.Message{Type: m.Type, From: self, To: m.To, SDP: m.SDP, Candidate: m.Candidate})
	c.relay(m.Type, m.To, self, frame)
}

// reject answers a bad client message. Before the join every problem is
// fatal (error, then close 1008); after it the connection stays open.
func (c *conn) reject(perr *proto.Error) {
	if c.getState() == stateNew {
		c.fail(perr, wsconn.ClosePolicyViolation)
		return
	}
	c.reply(c.errorFrame(perr))
}

// errorFrame encodes perr for the client and counts it.
func (c *conn) errorFrame(perr *proto.Error) []byte {
	c.srv.metrics.errorSent(perr.Code)
	return proto.Encode(perr.Msg())
}

// backendError maps a Backend error to the coded error sent to the client.
// Unexpected errors are logged here and reach the client only as "internal".
func (c *conn) backendError(err error, ref string) *proto.Error {
	perr := knownBackendError(err)
	if perr == nil {
		c.logger().Error("backend call failed", "ref", ref, "err", err)
		perr = proto.Errorf(proto.CodeInternal, "internal server error")
	}
	return perr.WithRef(ref)
}

// knownBackendError maps one of the Backend's documented refusals to the
// coded error for the client; it returns nil for any other error (such as
// a duplicate id).
func knownBackendError(err error) *proto.Error {
	switch {
	case errors.Is(err, ErrRoomFull):
		return proto.Errorf(proto.CodeRoomFull, "the room is full")
	case errors.Is(err, ErrUnknownPeer):
		return proto.Errorf(proto.CodeUnknownPeer, "no such peer in this room")
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return proto.Errorf(proto.CodeUnavailable, "the server cannot reach its backend; try again later")
	}
	return nil
}

// readEnded handles the error that ended readLoop. A drop (the network,
// the peer's TCP, a read deadline) holds the peer for a resume; a frame
// over the read limit or a WebSocket protocol violation is abuse: the
// peer leaves at once (expel). After those the reader discards what the
// client still sends until it closes, so that dropping the socket with
// unread data (a TCP reset) cannot destroy the close frame.
func (c *conn) readEnded(err error) {
	end, reason := wsconn.Classify(err)
	if end != wsconn.EndTooLarge && c.isClosing() {
		return // the client answered our close frame, or we dropped the socket
	}
	switch end {
	case wsconn.EndClosed:
		// The client closed on purpose: gorilla has echoed its close frame.
		c.logger().Debug("connection closed by client", "err", err)
		c.closeWith(closeReq{})
	case wsconn.EndDrop:
		c.logger().Info("connection lost", "err", err)
		c.connLost()
	case wsconn.EndTooLarge:
		// gorilla has sent close 1009 itself.
		c.logger().Info("frame over the read limit", "limit", c.srv.cfg.ReadLimit)
		c.expel(nil, 0, "")
		c.drain()
	default:
		// EndViolation: a frame header that breaks RFC 6455, closed here
		// with 1002; EndBadClose: gorilla found the violation in a close
		// frame's payload and has sent 1002 itself.
		c.logger().Info("websocket protocol violation", "err", err)
		code := 0
		if end == wsconn.EndViolation {
			code = wsconn.CloseProtocolError
		}
		c.expel(nil, code, reason)
		c.drain()
	}
}

// drain discards raw bytes from the socket for at most CloseGrace, until
// the client closes it.
func (c *conn) drain() {
	nc := c.ws.Unframed()
	if nc.SetReadDeadline(time.Now().Add(c.srv.cfg.CloseGrace)) == nil {
		_, _ = io.Copy(io.Discard, nc)
	}
}
