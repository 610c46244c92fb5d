package signal

import (
	"time"
)

// The ping wheel and the join deadlines: one housekeeping goroutine per
// Server (runTimers) instead of a ticker and a timer per connection. It
// starts with the first connection and stops at Shutdown. Every tracked
// connection sits in exactly one wheel slot from track to untrack, and each
// slot is visited once per PingInterval; a connection that has not joined
// within HandshakeTimeout is closed from here. All of it is guarded by
// Server.mu, which is never held while a frame is written.

// pingSlots is the number of slots of the ping wheel; one slot is visited
// every PingInterval/pingSlots.
const pingSlots = 20

// now is the time since the Server's start: the monotonic clock of the
// ping wheel, the join deadlines and the relay latency metric.
func (s *Server) now() time.Duration {
	return time.Since(s.epoch)
}

// timers is the state of the housekeeping goroutine (runTimers), guarded
// by Server.mu; see the top of the file.
type timers struct {
	// wheel holds every tracked connection in one of its slots.
	wheel    [pingSlots]map[*conn]struct{}
	nextSlot int // slot for the next connection
	// pending lists new connections in the order they came, with the time
	// their handshake expires (Server.now). A connection that joined in
	// time stays until then and is skipped.
	pending []pendingJoin
}

type pendingJoin struct {
	c        *conn
	deadline time.Duration
}

// addTimersLocked puts a new connection on the wheel and in the join
// deadline queue, and starts the housekeeping goroutine with the first
// connection. s.mu is held and the server is not closed.
func (s *Server) addTimersLocked(c *conn) {
	t := &s.timers
	if t.wheel[0] == nil { // the first connection
		for i := range t.wheel {
			t.wheel[i] = make(map[*conn]struct{})
		}
		s.wg.Add(1)
		go s.runTimers()
	}
	// newConn set lastRead: the first ping follows after a PingInterval
	// of silence, whichever slot the connection is in.
	c.slot = t.nextSlot
	t.nextSlot = (t.nextSlot + 1) % pingSlots
	t.wheel[c.slot][c] = struct{}{}
	t.pending = append(t.pending, pendingJoin{c: c, deadline: s.now() + s.cfg.HandshakeTimeout})
}

// runTimers is the housekeeping goroutine; it returns when Shutdown
// closes quit.
func (s *Server) runTimers() {
	defer s.wg.Done()
	// Wake once per wheel slot, or every quarter of the handshake timeout
	// if that is shorter.
	tick := time.NewTicker(max(time.Millisecond, min(s.cfg.PingInterval/pingSlots, s.cfg.HandshakeTimeout/4)))
	defer tick.Stop()
	slotLen := s.cfg.PingInterval / pingSlots
	visited := s.now() / slotLen // wheel position, in slots since the epoch
	var scratch []*conn
	for {
		select {
		case <-s.quit:
			return
		case <-tick.C:
		}
		now := s.now()
		for ; visited < now/slotLen; visited++ {
			scratch = s.pingSlot(int((visited+1)%pingSlots), now, scratch[:0])
		}
		scratch = s.expireJoins(now, scratch[:0])
		clear(scratch[:cap(scratch)])
	}
}

// pingSlot asks every connection in wheel slot i that has been silent for
// a PingInterval to send a ping. It returns scratch for reuse.
func (s *Server) pingSlot(i int, now time.Duration, scratch []*conn) []*conn {
	s.mu.Lock()
	for c := range s.timers.wheel[i] {
		scratch = append(scratch, c)
	}
	s.mu.Unlock()
	for _, c := range scratch {
		if now-time.Duration(c.lastRead.Load()) >= s.cfg.PingInterval {
			c.requestPing()
		}
	}
	return scratch
}

// expireJoins closes the connections whose join deadline has passed
// without a join. It returns scratch for reuse.
func (s *Server) expireJoins(now time.Duration, scratch []*conn) []*conn {
	s.mu.Lock()
	p := s.timers.pending
	n := 0
	for n < len(p) && p[n].deadline <= now {
		scratch = append(scratch, p[n].c)
		n++
	}
	clear(p[:n])
	s.timers.pending = p[n:]
	if len(s.timers.pending) == 0 {
		s.timers.pending = nil // let the array go
	}
	s.mu.Unlock()
	for _, c := range scratch {
		c.handshakeExpired()
	}
	return scratch
}
