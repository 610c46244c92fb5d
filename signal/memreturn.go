package signal

import (
	"runtime/debug"
	"time"
)

// ReturnMemoryChurn is the number of connections that must have opened or
// closed since the last return before Config.ReturnMemoryAfter returns
// memory again: each WebSocket handshake leaves about 15 KiB of garbage, so
// a smaller burst is not worth a full collection.
const ReturnMemoryChurn = 1024

// memoryReturn is the housekeeper's state for Config.ReturnMemoryAfter. It
// is guarded by Server.mu, except quiet's channel, which runTimers reads.
type memoryReturn struct {
	quiet *time.Timer // fires ReturnMemoryAfter after the last open or close
	churn int         // opens and closes since the last return
	// minChurn (ReturnMemoryChurn) and free (debug.FreeOSMemory) are
	// fields so that tests can scale them down and observe them.
	minChurn int
	free     func()
}

// churnLocked counts a connection opened or closed and restarts the quiet
// period. s.mu is held.
func (s *Server) churnLocked() {
	m := &s.memReturn
	if m.quiet == nil {
		return
	}
	m.churn++
	if m.churn >= m.minChurn {
		m.quiet.Reset(s.cfg.ReturnMemoryAfter)
	}
}

// startMemoryReturnLocked creates the quiet timer, stopped, when
// ReturnMemoryAfter is set; runTimers selects on quietC. s.mu is held.
func (s *Server) startMemoryReturnLocked() {
	m := &s.memReturn
	if s.cfg.ReturnMemoryAfter > 0 {
		m.quiet = time.NewTimer(time.Hour)
		m.quiet.Stop()
	}
	if m.minChurn == 0 {
		m.minChurn = ReturnMemoryChurn
	}
	if m.free == nil {
		m.free = debug.FreeOSMemory
	}
}

// quietC is the channel of the quiet timer, or nil (never ready).
func (s *Server) quietC() <-chan time.Time {
	if s.memReturn.quiet == nil {
		return nil
	}
	return s.memReturn.quiet.C
}

// returnMemory runs when the server has been quiet for ReturnMemoryAfter
// after a burst of connections.
func (s *Server) returnMemory() {
	s.mu.Lock()
	churn, minChurn, free := s.memReturn.churn, s.memReturn.minChurn, s.memReturn.free
	s.memReturn.churn = 0
	s.mu.Unlock()
	if churn < minChurn {
		return
	}
	start := time.Now()
	free()
	s.log.Debug("returned memory to the OS", "churn", churn, "took", time.Since(start))
}
