package signal

import (
	"context"
	"errors"

	"github.com/videochat/videochat/signal/internal/wsconn"

	"github.com/videochat/videochat/signal/proto"
)

// handleJoin admits the connection to its room and sends welcome: as the
// peer named by a valid resume token if the join carries one, otherwise as
// a new peer. A bad or refused join is fatal.
func (c *conn) handleJoin(m proto.Message) {
	if c.getState() != stateNew {
		c.reject(proto.Errorf(proto.CodeAlreadyJoined, "this connection has already joined").WithRef(m.Type))
		return
	}
	if m.Version != proto.Version {
		c.srv.metrics.refused(proto.CodeUnsupportedVersion)
		c.reject(proto.Errorf(proto.CodeUnsupportedVersion, "this server speaks protocol version %d", proto.Version).WithRef(m.Type))
		return
	}
	canPublish, perr := c.authorize(&m)
	if perr == nil {
		perr = proto.ValidateClient(&m)
	}
	if perr != nil {
		c.srv.metrics.refused(perr.Code)
		c.reject(perr)
		return
	}
	if c.tryResume(m.Resume, m.Name, canPublish) {
		return
	}
	c.join(proto.PeerInfo{ID: newPeerID(), Name: m.Name}, canPublish, false)
}

// tryResume handles a join that presents resume token tok and reports
// whether it did. A session held (or still carried) by this server is taken
// over; otherwise the peer is admitted again under its old id. An invalid or
// expired token, or an id that is taken in the room, makes it a new join
// (false).
func (c *conn) tryResume(tok, name string, canPublish *bool) bool {
	if tok == "" || c.srv.cfg.DisableResume {
		return false
	}
	rc, ok := c.srv.resumes.verify(tok, c.room)
	if !ok {
		c.logger().Info("resume token refused; joining as a new peer")
		return false
	}
	if sess := c.srv.findSession(c.room, rc.ID); sess != nil && c.takeOver(sess) {
		return true
	}
	if c.srv.cfg.Tokens == nil {
		name = rc.Name // with room tokens, the token's name wins
	}
	return c.join(proto.PeerInfo{ID: rc.ID, Name: name}, canPublish, true)
}

// takeOver attaches the connection to sess, held or live. The others see
// nothing; the client gets a welcome listing the room as it is now and then
// the frames buffered while it was away. A live connection that carried
// the session is closed with CloseReplaced.
func (c *conn) takeOver(sess *session) bool {
	c.hold(sess.info.ID, sess)
	a := sess.attach(c)
	if !a.ok {
		c.unhold()
		return false
	}
	if a.old != nil {
		a.old.replaced()
	}
	c.srv.stats.resumed.Add(1)
	c.srv.metrics.resumed()
	c.release(c.welcome(sess, a.roster, true))
	c.logger().Info("resumed", "name", sess.info.Name, "peers", len(a.roster), "replaced", a.old != nil)
	return true
}

// join admits peer info to the room through the Backend with a new
// session and reports whether the join was handled (admitted or refused).
// A resumed join whose id the Backend refuses for an unexpected reason (the
// id is still in the room) is not handled, so that the caller can join as a
// new peer.
func (c *conn) join(info proto.PeerInfo, canPublish *bool, resumed bool) bool {
	if !c.srv.reserveRoom(c.room) {
		c.srv.metrics.refused(proto.CodeRoomLimit)
		c.fail(proto.Errorf(proto.CodeRoomLimit, "the server holds too many rooms; try again later").WithRef(proto.TypeJoin),
			wsconn.CloseTryAgainLater)
		return true
	}
	sess := newSession(c.srv, c.room, info, canPublish, c)
	c.hold(info.ID, sess)
	ctx, cancel := c.srv.backendContext()
	defer cancel()
	peers, err := c.srv.backend.Join(ctx, c.room, info, c.srv.cfg.MaxPeers, sess)
	if err != nil {
		c.srv.releaseRoom(c.room)
		if resumed && !isKnownBackendError(err) {
			c.unhold()
			c.logger().Info("resume could not take its id back; joining as a new peer", "err", err)
			return false
		}
		c.release(nil)
		perr := c.backendError(err, proto.TypeJoin)
		c.srv.metrics.refused(perr.Code)
		c.fail(perr, joinCloseCode(perr.Code))
		return true
	}
	sess.setRoster(peers)
	c.srv.addSession(sess)
	if resumed {
		c.srv.stats.resumed.Add(1)
		c.srv.metrics.resumed()
	}
	c.release(c.welcome(sess, peers, resumed))
	c.logger().Info("joined", "name", info.Name, "peers", len(peers), "resumed", resumed)
	return true
}

// isKnownBackendError reports whether err is one of the Backend's documented
// refusals, as opposed to an unexpected one such as a duplicate id.
func isKnownBackendError(err error) bool {
	for _, known := range []error{ErrRoomFull, ErrUnknownPeer, ErrUnavailable, context.DeadlineExceeded} {
		if errors.Is(err, known) {
			return true
		}
	}
	return false
}

// welcome is the welcome for sess, listing peers.
func (c *conn) welcome(sess *session, peers []proto.PeerInfo, resumed bool) []byte {
	w := proto.Message{Type: proto.TypeWelcome, ID: sess.info.ID, Room: c.room, Peers: peers,
		Resumed: resumed, CanPublish: sess.canPublish}
	if f := c.srv.cfg.ICEServers; f != nil {
		w.ICEServers = f(sess.info.ID)
	}
	if !c.srv.cfg.DisableResume {
		w.ResumeToken = c.srv.resumes.issue(c.room, sess.info)
		w.Grace = graceSeconds(c.srv.cfg.ResumeGrace)
	}
	return proto.Encode(w)
}

// replaced closes a connection whose session another one has taken.
func (c *conn) replaced() {
	c.fail(proto.Errorf(proto.CodeReplaced, "another connection resumed this session"), proto.CloseReplaced)
}
