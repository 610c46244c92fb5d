package signal

import (
	"context"
	"errors"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/signal/proto"
)

// handleFrame decodes one frame from the client and dispatches it by type.
func (c *conn) handleFrame(mt int, data []byte) {
	if mt != websocket.TextMessage {
		c.reject(proto.Errorf(proto.CodeBadMessage, "binary frames are not part of the protocol; send JSON text frames"))
		return
	}
	m, perr := proto.Decode(data)
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
		c.fail(perr, websocket.ClosePolicyViolation)
		return
	}
	c.reply(proto.Encode(perr.Msg()))
}

// joinCloseCode is the close code that follows a refused join.
func joinCloseCode(code string) int {
	switch code {
	case proto.CodeUnavailable, proto.CodeRoomLimit:
		return websocket.CloseTryAgainLater
	case proto.CodeInternal:
		return websocket.CloseInternalServerErr
	}
	return websocket.ClosePolicyViolation
}

// handleLeave takes the peer out of its room and closes with 1000.
func (c *conn) handleLeave() {
	c.leave()
	c.closeWith(closeReq{code: websocket.CloseNormalClosure, reason: "left", graceful: true})
}

// leave takes a joined peer out of its room; the others get peer-left. It
// does nothing if another connection has taken the peer's session.
func (c *conn) leave() {
	c.setState(stateLeft)
	if sess := c.session(); sess != nil {
		sess.leave(c)
	}
}

// handleDirected relays an offer, answer or candidate to its target with
// from set to the sender's id.
func (c *conn) handleDirected(m proto.Message) {
	if perr := proto.ValidateClient(&m); perr != nil {
		c.reject(perr)
		return
	}
	self := c.peerID()
	if m.To == self {
		c.reject(proto.Errorf(proto.CodeBadMessage, "a peer cannot send to itself").WithRef(m.Type))
		return
	}
	out := proto.Message{Type: m.Type, From: self, To: m.To, SDP: m.SDP, Candidate: m.Candidate}
	ctx, cancel := c.srv.backendContext()
	defer cancel()
	if err := c.srv.backend.Send(ctx, c.room, m.To, proto.Encode(out)); err != nil {
		msg := c.backendError(err, m.Type).Msg()
		msg.To = m.To
		c.reply(proto.Encode(msg))
	}
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
