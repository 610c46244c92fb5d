package signal

import (
	"crypto/rand"
	"encoding/hex"
	"time"

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
	old, roster, ok := sess.attach(c)
	if !ok {
		c.unhold()
		return false
	}
	if old != nil {
		old.fail(proto.Errorf(proto.CodeReplaced, "another connection resumed this session"), proto.CloseReplaced)
	}
	c.release(c.welcome(sess, roster, true))
	c.logger().Info("resumed", "name", sess.info.Name, "peers", len(roster), "replaced", old != nil)
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
	sess := &session{srv: c.srv, room: c.room, info: info, canPublish: canPublish, conn: c}
	c.hold(info.ID, sess)
	ctx, cancel := c.srv.backendContext()
	defer cancel()
	peers, err := c.srv.backend.Join(ctx, c.room, info, c.srv.cfg.MaxPeers, sess)
	if err != nil {
		c.srv.releaseRoom(c.room)
		if resumed && knownBackendError(err) == nil {
			c.unhold()
			c.logger().Info("resume could not take its id back; joining as a new peer", "err", err)
			return false
		}
		c.release(nil)
		perr := c.backendError(err, proto.TypeJoin)
		c.srv.metrics.refused(perr.Code)
		code := wsconn.ClosePolicyViolation // room-full
		switch perr.Code {
		case proto.CodeUnavailable:
			code = wsconn.CloseTryAgainLater
		case proto.CodeInternal:
			code = wsconn.CloseInternalServerErr
		}
		c.fail(perr, code)
		return true
	}
	sess.setRoster(peers)
	c.srv.addSession(sess)
	c.release(c.welcome(sess, peers, resumed))
	c.logger().Info("joined", "name", info.Name, "peers", len(peers), "resumed", resumed)
	return true
}

// welcome is the welcome for sess, listing peers; a resumed one is
// counted.
func (c *conn) welcome(sess *session, peers []proto.PeerInfo, resumed bool) []byte {
	if resumed {
		c.srv.metrics.resumes.Inc()
	}
	w := proto.Message{Type: proto.TypeWelcome, ID: sess.info.ID, Room: c.room, Peers: peers,
		Resumed: resumed, CanPublish: sess.canPublish}
	if f := c.srv.cfg.ICEServers; f != nil {
		w.ICEServers = f(sess.info.ID)
	}
	if !c.srv.cfg.DisableResume {
		w.ResumeToken = c.srv.resumes.issue(c.room, sess.info)
		w.Grace = max(1, int((c.srv.cfg.ResumeGrace+time.Second-1)/time.Second)) // whole seconds, rounded up
	}
	return proto.Encode(w)
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
	at := c.srv.now()
	c.queue = append(c.queue, outFrame{data: welcome, at: at})
	for _, f := range held {
		c.queue = append(c.queue, outFrame{data: f, at: at})
	}
	c.kickLocked()
}

// leaveRoom takes a joined peer out of its room when the connection ends.
func (c *conn) leaveRoom() {
	if c.getState() == stateJoined {
		c.leave()
	}
}

// leave takes a joined peer out of its room; the others get peer-left. It
// does nothing if another connection has taken the peer's session.
func (c *conn) leave() {
	c.mu.Lock()
	c.state = stateLeft
	sess := c.sess
	c.mu.Unlock()
	if sess != nil {
		sess.leave(c)
	}
}

// authorize checks the join's room token when the server requires one
// (Config.Tokens) and returns the token's can_publish claim. The token's
// name replaces the name in the join. Every refusal gets the same
// unauthorized answer, whatever the reason and whether or not the room
// exists, so that a client cannot probe for rooms; the reason is logged.
func (c *conn) authorize(m *proto.Message) (*bool, *proto.Error) {
	v := c.srv.cfg.Tokens
	if v == nil {
		return nil, nil
	}
	claims, err := v.Verify(m.Token, c.room)
	if err != nil {
		c.logger().Info("join refused", "err", err)
		return nil, proto.Errorf(proto.CodeUnauthorized, "a valid room token for this room is required").WithRef(proto.TypeJoin)
	}
	m.Name = claims.Name
	return claims.CanPublish, nil
}

// peerIDBytes is the number of random bytes in a peer id (16 hex digits).
const peerIDBytes = 8

// newPeerID returns a random peer id of 16 lower-case hex digits.
func newPeerID() string {
	b := make([]byte, peerIDBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error.
	return hex.EncodeToString(b)
}
