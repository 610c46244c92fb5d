package signal

import (
	"bytes"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/videochat/videochat/signal/proto"
)

// sessState is where a session is in its life.
type sessState int

const (
	// sessAttached: a connection carries the session.
	sessAttached sessState = iota
	// sessHeld: the connection dropped; frames are buffered for a resume
	// until the grace period ends.
	sessHeld
	// sessEnded: the peer has left its room.
	sessEnded
)

// session is one peer's membership of a room. It is the Sink the Backend
// delivers to: while a connection is attached it forwards every frame to
// it; while held after a drop it buffers them (at most ResumeBuffer) for the
// connection that resumes it. A session outlives the connection that made
// it, so the peer keeps its id and its room-mates notice nothing.
//
// Lock order: session.mu before conn.mu; a session never calls the Backend
// while holding its lock.
type session struct {
	srv        *Server
	room       string
	info       proto.PeerInfo
	canPublish *bool

	mu     sync.Mutex
	state  sessState
	conn   *conn
	buf    [][]byte      // frames for a held session, oldest first
	wake   chan struct{} // closed to end the hold early (resume or overflow)
	woken  bool
	roster roster
}

// Deliver implements Sink. It never blocks.
func (s *session) Deliver(frame []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case sessAttached:
		if !s.conn.Deliver(frame) {
			return false
		}
	case sessHeld:
		if s.woken || len(s.buf) >= s.srv.cfg.ResumeBuffer {
			s.wakeLocked() // the buffer overflowed: the peer leaves
			return false
		}
		s.buf = append(s.buf, bytes.Clone(frame))
	default:
		return false
	}
	s.roster.track(frame)
	return true
}

// setRoster records the peers the backend listed at join.
func (s *session) setRoster(peers []proto.PeerInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roster.set(peers)
}

// detach holds the session after its connection c dropped: frames c had
// queued but not written, and those that arrive from now on, are buffered
// until a resume or the end of the grace period. It reports false when c
// no longer carries the session.
func (s *session) detach(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != sessAttached || s.conn != c {
		return false
	}
	s.state, s.conn = sessHeld, nil
	s.buf = c.takeQueued()
	s.wake, s.woken = make(chan struct{}), false
	if len(s.buf) > s.srv.cfg.ResumeBuffer {
		s.wakeLocked()
	}
	s.srv.metrics.held.Inc()
	s.srv.wg.Add(1) // c's goroutines are still counted, so wg is above zero
	go s.hold(s.wake)
	return true
}

func (s *session) wakeLocked() {
	if !s.woken {
		s.woken = true
		close(s.wake)
	}
}

// hold waits out the grace period of a held session; unless a connection
// has resumed it by then, the peer leaves its room. Shutdown ends the wait
// early.
func (s *session) hold(wake <-chan struct{}) {
	defer s.srv.wg.Done()
	grace := time.NewTimer(s.srv.cfg.ResumeGrace)
	defer grace.Stop()
	select {
	case <-grace.C:
	case <-wake:
	case <-s.srv.quit:
	}
	if s.end(sessHeld) {
		s.srv.log.Info("held session ended", "room", s.room, "peer", s.info.ID)
	}
}

// attach makes c carry the session: a held one is resumed (its buffered
// frames are delivered to c, which holds them back until its welcome), a
// live one is taken from its connection, old. It returns the room as the
// session knows it now, and fails (ok false) for an ended session.
func (s *session) attach(c *conn) (old *conn, roster []proto.PeerInfo, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case sessEnded:
		return nil, nil, false
	case sessHeld:
		if s.woken { // grace over or buffer overflowed: the leave is under way
			return nil, nil, false
		}
		s.srv.metrics.held.Dec()
		s.wakeLocked()
	case sessAttached:
		old = s.conn
	}
	s.state, s.conn = sessAttached, c
	for _, f := range s.buf {
		c.Deliver(f)
	}
	s.buf = nil
	return old, s.roster.list(), true
}

// leave ends the session for its attached connection c: the peer leaves
// its room and the others get peer-left. It does nothing when c no longer
// carries the session.
func (s *session) leave(c *conn) {
	s.mu.Lock()
	ok := s.state == sessAttached && s.conn == c
	s.mu.Unlock()
	if ok {
		s.end(sessAttached)
	}
}

// end takes the peer out of its room if the session is still in state
// from, and reports whether it did.
func (s *session) end(from sessState) bool {
	s.mu.Lock()
	if s.state != from {
		s.mu.Unlock()
		return false
	}
	if from == sessHeld {
		s.srv.metrics.held.Dec()
	}
	s.state, s.conn, s.buf = sessEnded, nil, nil
	s.mu.Unlock()
	s.srv.forgetSession(s)
	ctx, cancel := s.srv.backendContext()
	defer cancel()
	if err := s.srv.backend.Leave(ctx, s.room, s.info.ID); err != nil {
		s.srv.log.Error("leave failed", "room", s.room, "peer", s.info.ID, "err", err)
	}
	return true
}

// roster follows a room's membership from the peer-joined and peer-left
// frames delivered to one session, so that a resumed welcome can list the
// room as it is now. Frames seen before set (while the join is still in
// progress) are applied on top of the backend's list.
type roster struct {
	ready   bool
	peers   []proto.PeerInfo
	pending []proto.Message
}

var (
	peerJoinedPrefix = []byte(`{"type":"` + proto.TypePeerJoined + `"`)
	peerLeftPrefix   = []byte(`{"type":"` + proto.TypePeerLeft + `"`)
)

// track applies frame if it is a peer-joined or peer-left. Frames are made
// by proto.Encode, whose output starts with the type, so other frames are
// skipped without decoding them.
func (r *roster) track(frame []byte) {
	if !bytes.HasPrefix(frame, peerJoinedPrefix) && !bytes.HasPrefix(frame, peerLeftPrefix) {
		return
	}
	var m proto.Message
	if json.Unmarshal(frame, &m) != nil || m.Peer == nil {
		return
	}
	if !r.ready {
		r.pending = append(r.pending, m)
		return
	}
	r.apply(m)
}

func (r *roster) set(peers []proto.PeerInfo) {
	r.peers, r.ready = slices.Clone(peers), true
	for _, m := range r.pending {
		r.apply(m)
	}
	r.pending = nil
}

func (r *roster) apply(m proto.Message) {
	id := m.Peer.ID
	r.peers = slices.DeleteFunc(r.peers, func(p proto.PeerInfo) bool { return p.ID == id })
	if m.Type == proto.TypePeerJoined {
		r.peers = append(r.peers, *m.Peer)
	}
}

func (r *roster) list() []proto.PeerInfo {
	return slices.Clone(r.peers)
}

// sessionKey names a session in the Server's map.
func sessionKey(room, id string) string {
	return room + "\x00" + id
}

// addSession registers a session that has joined its room.
func (s *Server) addSession(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[sessionKey(sess.room, sess.info.ID)] = sess
	s.metrics.peers.Set(float64(len(s.sessions)))
}

// findSession returns the session of peer id in room, if this server has it.
func (s *Server) findSession(room, id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[sessionKey(room, id)]
}

// forgetSession drops an ended session and its room reservation.
func (s *Server) forgetSession(sess *session) {
	key := sessionKey(sess.room, sess.info.ID)
	s.mu.Lock()
	if s.sessions[key] == sess {
		delete(s.sessions, key)
	}
	s.metrics.peers.Set(float64(len(s.sessions)))
	s.mu.Unlock()
	s.releaseRoom(sess.room)
}
