package signal

import (
	"context"
	"errors"
	"unicode/utf8"

	"github.com/videochat/videochat/signal/internal/wsconn"
	"github.com/videochat/videochat/signal/proto"
)

// handleFrame decodes one frame from the client and dispatches it by type.
// A joined peer's directed message in the usual shape is relayed without
// decoding it (fastpath.go); everything else is decoded in full.
//
// It runs on the reader, so the path a directed message takes here keeps
// its stack frames small: the reader's stack should not outgrow 2 KiB (see
// readLoop). Errors and everything else run elsewhere.
func (c *conn) handleFrame(mt int, data []byte) {
	if mt == wsconn.TextMessage && c.mayRelayFast() && c.relayFast(data) {
		return
	}
	wsconn.OnFreshStack(func() { c.handleSlow(mt, data) })
}

// relayFast relays data if it is a directed message in the usual shape
// and reports whether it was.
func (c *conn) relayFast(data []byte) bool {
	self := c.peerID()
	out := c.srv.frames.Get().(*[]byte)
	defer c.srv.putFrame(out) // sinks and backends keep no frame (see Sink)
	typ, kind, to, ok := spliceDirected(data, self, out)
	if !ok {
		return false
	}
	c.srv.metrics.messageIn(kind)
	c.relay(typ, to, self, *out)
	return true
}

// spliceDirected scans data for the fast path and, if it qualifies,
// returns its type, messages_in_total kind and target, and the frame to
// relay, from self, in *out. It is kept out of line so that its stack frame (the
// scan's state) is gone before relay goes down the delivery path.
//
//go:noinline
func spliceDirected(data []byte, self string, out *[]byte) (typ string, kind int, to string, ok bool) {
	d, ok := scanDirected(data)
	if !ok {
		return "", 0, "", false
	}
	*out = d.appendSplice((*out)[:0], data, self)
	return d.typ, d.kind, string(d.to), true
}

// handleSlow handles a frame that is not a directed message in the usual
// shape. A text frame that is not valid UTF-8 fails the connection with
// 1007 (RFC 6455 section 8.1), before or after the join; the fast path
// accepts only valid UTF-8, so the check costs it nothing.
func (c *conn) handleSlow(mt int, data []byte) {
	switch {
	case mt != wsconn.TextMessage:
		c.srv.metrics.messageIn(inInvalid)
		c.reject(proto.Errorf(proto.CodeBadMessage, "binary frames are not part of the protocol; send JSON text frames"))
	case !utf8.Valid(data):
		c.srv.metrics.messageIn(inInvalid)
		c.logger().Info("text frame is not valid UTF-8")
		c.expel(proto.Errorf(proto.CodeBadMessage, "text frames must be valid UTF-8"),
			wsconn.CloseInvalidFramePayloadData, proto.CodeBadMessage)
	default:
		c.handleDecoded(data)
	}
}

// handleDecoded decodes a frame in full and dispatches it by type.
func (c *conn) handleDecoded(data []byte) {
	m, perr := proto.Decode(data)
	c.srv.metrics.messageIn(inKind(m.Type, perr))
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
		c.handleLeave()
	case proto.TypeOffer, proto.TypeAnswer, proto.TypeCandidate:
		c.handleDirected(m)
	}
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

// inKind is the messages_in_total kind of a decoded message.
func inKind(typ string, perr *proto.Error) int {
	if perr != nil {
		return inInvalid
	}
	switch typ {
	case proto.TypeJoin:
		return inJoin
	case proto.TypeLeave:
		return inLeave
	case proto.TypeOffer:
		return inOffer
	case proto.TypeAnswer:
		return inAnswer
	}
	return inCandidate
}

// joinCloseCode is the close code that follows a refused join.
func joinCloseCode(code string) int {
	switch code {
	case proto.CodeUnavailable, proto.CodeRoomLimit:
		return wsconn.CloseTryAgainLater
	case proto.CodeInternal:
		return wsconn.CloseInternalServerErr
	}
	return wsconn.ClosePolicyViolation
}

// handleLeave takes the peer out of its room and closes with 1000.
func (c *conn) handleLeave() {
	c.leave()
	c.closeWith(closeReq{code: wsconn.CloseNormalClosure, reason: "left", graceful: true})
}

// leave takes a joined peer out of its room; the others get peer-left. It
// does nothing if another connection has taken the peer's session.
func (c *conn) leave() {
	c.setState(stateLeft)
	if sess := c.session(); sess != nil {
		sess.leave(c)
	}
}

// handleDirected relays a decoded offer, answer or candidate to its target
// with from set to the sender's id.
func (c *conn) handleDirected(m proto.Message) {
	if perr := proto.ValidateClient(&m); perr != nil {
		c.reject(perr)
		return
	}
	if m.Type != proto.TypeCandidate && c.isViewer() && proto.SendsMedia(m.SDP) {
		c.reject(proto.Errorf(proto.CodeForbidden,
			"this peer's room token does not allow publishing: its offers and answers must not send audio or video (use recvonly)").WithRef(m.Type))
		return
	}
	self := c.peerID()
	frame := proto.Encode(proto.Message{Type: m.Type, From: self, To: m.To, SDP: m.SDP, Candidate: m.Candidate})
	c.relay(m.Type, m.To, self, frame)
}

// relay sends frame, a directed message of type typ from peer self, to
// peer to. A failure is answered with an error naming to.
func (c *conn) relay(typ, to, self string, frame []byte) {
	if to == self {
		c.rejectToSelf(typ)
		return
	}
	if !c.srv.admitRelay() {
		c.shed(typ)
		return
	}
	if err := c.srv.send(c.room, to, frame); err != nil {
		c.relayFailed(err, typ, to)
	}
}

// rejectToSelf answers a directed message of type typ addressed to its
// sender; kept out of line like relayFailed.
//
//go:noinline
func (c *conn) rejectToSelf(typ string) {
	c.reject(proto.Errorf(proto.CodeBadMessage, "a peer cannot send to itself").WithRef(typ))
}

// relayFailed answers a directed message of type typ to peer to that the
// Backend refused. It is a function of its own, kept out of line, so that
// relay, which the reader runs for every directed message, keeps a small
// stack frame (see readLoop).
//
//go:noinline
func (c *conn) relayFailed(err error, typ, to string) {
	perr := c.backendError(err, typ)
	c.srv.metrics.errorSent(perr.Code)
	msg := perr.Msg()
	msg.To = to
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

// backendError maps a Backend error to the coded error sent to the client.
// Unexpected errors are logged here and reach the client only as "internal".
func (c *conn) backendError(err error, ref string) *proto.Error {
	var perr *proto.Error
	switch {
	case errors.Is(err, ErrRoomFull):
		perr = proto.Errorf(proto.CodeRoomFull, "the room is full")
	case errors.Is(err, ErrUnknownPeer):
		perr = proto.Errorf(proto.CodeUnknownPeer, "no such peer in this room")
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		perr = proto.Errorf(proto.CodeUnavailable, "the server cannot reach its backend; try again later")
	default:
		c.logger().Error("backend call failed", "ref", ref, "err", err)
		perr = proto.Errorf(proto.CodeInternal, "internal server error")
	}
	return perr.WithRef(ref)
}
