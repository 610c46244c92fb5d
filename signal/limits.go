package signal

import (
	"net"
	"net/http"
	"time"

	"golang.org/x/time/rate"
)

// msgLimiter is one connection's message rate limit. Only readLoop uses it.
type msgLimiter struct {
	bucket      *rate.Limiter
	maxDropped  int
	windowStart time.Time
	dropped     int
}

func newMsgLimiter(cfg *Config) msgLimiter {
	limit := rate.Limit(cfg.MessageRate)
	if cfg.MessageRate == Unlimited {
		limit = rate.Inf
	}
	return msgLimiter{bucket: rate.NewLimiter(limit, cfg.MessageBurst), maxDropped: cfg.MaxDropped}
}

// verdict is what the limiter says about one message.
type verdict int

const (
	admit     verdict = iota // handle the message
	dropFirst                // drop it and tell the client (first drop in the window)
	drop                     // drop it quietly
	cutOff                   // drop it and close the connection
)

// judge decides about a message arriving at now.
func (l *msgLimiter) judge(now time.Time) verdict {
	if l.bucket.AllowN(now, 1) {
		return admit
	}
	if now.Sub(l.windowStart) >= RateWindow {
		l.windowStart, l.dropped = now, 0
	}
	l.dropped++
	switch {
	case l.dropped > l.maxDropped:
		return cutOff
	case l.dropped == 1:
		return dropFirst
	}
	return drop
}

// maxPause caps the pause after a dropped frame.
const maxPause = 100 * time.Millisecond

// pause is how long the reader rests after a dropped frame: the time the
// bucket takes to earn one token (at most maxPause). While it rests it
// reads nothing, so a flooding client meets TCP back-pressure instead of
// costing the server CPU for every frame it manages to send.
func (l *msgLimiter) pause() time.Duration {
	limit := l.bucket.Limit()
	if limit == rate.Inf || limit <= 0 {
		return 0
	}
	return min(time.Duration(float64(time.Second)/float64(limit)), maxPause)
}

// remoteIP is the address a connection counts against in MaxConnsPerIP.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// admitIP counts one more connection from ip unless it has reached
// MaxConnsPerIP.
func (s *Server) admitIP(ip string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if max := s.cfg.MaxConnsPerIP; max != Unlimited && s.perIP[ip] >= max {
		return false
	}
	s.perIP[ip]++
	return true
}

// releaseIP forgets one connection from ip.
func (s *Server) releaseIP(ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseIPLocked(ip)
}

func (s *Server) releaseIPLocked(ip string) {
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}

// reserveRoom counts one more session in room unless that would open a
// room past MaxRooms.
func (s *Server) reserveRoom(room string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if max := s.cfg.MaxRooms; s.rooms[room] == 0 && max != Unlimited && len(s.rooms) >= max {
		return false
	}
	s.rooms[room]++
	s.metrics.rooms.Set(float64(len(s.rooms)))
	return true
}

// releaseRoom forgets one session in room.
func (s *Server) releaseRoom(room string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rooms[room]--; s.rooms[room] <= 0 {
		delete(s.rooms, room)
	}
	s.metrics.rooms.Set(float64(len(s.rooms)))
}

// shedReplyEvery is the least time between two overloaded errors to one
// connection. Replies cost the server a write each, which it can least
// afford while it sheds.
const shedReplyEvery = RateWindow
