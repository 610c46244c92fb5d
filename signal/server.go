// Package signal is videochat's signalling server: an http.Handler that
// speaks protocol v1 (package proto, PROTOCOL.md) over WebSockets, keeps
// rooms through a Backend and relays offers, answers and ICE candidates
// between the peers of a room.
//
// Each connection has exactly one reader and one writer goroutine and a
// bounded send queue; a client whose queue overflows is evicted, so a slow
// client never holds up its room. Shutdown closes every connection and
// waits for all of the server's goroutines.
package signal

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/signal/proto"
)

// Server serves the signalling WebSocket. Create it with New.
type Server struct {
	cfg         Config
	backend     Backend
	ownsBackend bool
	log         *slog.Logger
	upgrader    websocket.Upgrader

	resumes resumeSigner
	stats   counters

	// mu guards the maps below and closed. It is held for map updates only,
	// never while delivering a frame or calling the Backend.
	mu       sync.Mutex
	conns    map[*conn]struct{}
	sessions map[string]*session // by sessionKey, attached or held
	rooms    map[string]int      // sessions per room, for MaxRooms
	perIP    map[string]int      // connections per remote IP
	closed   bool
	quit     chan struct{} // closed by Shutdown: held sessions end
	// wg counts two per tracked connection and one per held session.
	wg sync.WaitGroup

	quitOnce     sync.Once
	closeBackend sync.Once
	backendErr   error
}

// New validates cfg, fills in defaults and returns a Server.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		backend:  cfg.Backend,
		log:      cfg.Logger.With("component", "signal"),
		conns:    make(map[*conn]struct{}),
		sessions: make(map[string]*session),
		rooms:    make(map[string]int),
		perIP:    make(map[string]int),
		quit:     make(chan struct{}),
		resumes:  resumeSigner{secret: cfg.ResumeSecret, ttl: cfg.ResumeTTL, now: time.Now},
	}
	if s.backend == nil {
		s.backend = NewMemoryBackend()
		s.ownsBackend = true
	}
	s.upgrader = websocket.Upgrader{CheckOrigin: s.checkOrigin}
	return s, nil
}

// ServeHTTP upgrades the request to the signalling WebSocket of the room
// named by the path value "room" (mount it at "GET /ws/{room}"). A foreign
// Origin gets 403 and no upgrade, a remote address past MaxConnsPerIP 429;
// an invalid room name gets a bad-room error and close 1008 after the
// upgrade. After Shutdown it answers 503.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.isClosed() {
		http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
		return
	}
	ip := remoteIP(r)
	if !s.admitIP(ip) {
		s.stats.refusedIP.Add(1)
		s.log.Warn("too many connections from one address", "remote", r.RemoteAddr)
		http.Error(w, "too many connections from your address", http.StatusTooManyRequests)
		return
	}
	room := r.PathValue("room")
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has answered with an HTTP error already.
		s.releaseIP(ip)
		s.log.Info("websocket handshake refused", "remote", r.RemoteAddr,
			"origin", r.Header.Get("Origin"), "err", err)
		return
	}
	c := newConn(s, ws, room, ip, s.log.With("room", room, "remote", r.RemoteAddr))
	if !s.track(c) {
		s.releaseIP(ip)
		s.refuse(ws)
		return
	}
	if !proto.ValidRoom(room) {
		c.fail(proto.Errorf(proto.CodeBadRoom, "room names are 1 to 64 letters, digits, '-', '_' or '.'"),
			websocket.ClosePolicyViolation)
	}
	go c.readLoop()
	go c.writeLoop()
}

// Shutdown stops accepting connections, sends every client a bye with code
// server-shutdown and closes it with 1001, ends the sessions held for a
// resume (their peers leave, as the connected ones do), and waits until all
// of the server's goroutines have returned. If ctx ends first the remaining
// connections are dropped at once; Shutdown still waits for their
// goroutines and returns ctx's error. A Backend the Server created itself is
// closed last. Calling Shutdown again waits in the same way.
func (s *Server) Shutdown(ctx context.Context) error {
	conns := s.stopAccepting()
	for _, c := range conns {
		c.sealForShutdown()
	}
	for _, c := range conns {
		c.signalClose()
	}
	s.quitOnce.Do(func() { close(s.quit) })
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		for _, c := range s.snapshot() {
			_ = c.ws.Close()
		}
		<-done
	}
	if s.ownsBackend {
		s.closeBackend.Do(func() { s.backendErr = s.backend.Close() })
		if err == nil {
			err = s.backendErr
		}
	}
	return err
}

// refuse says bye to a connection upgraded while the server shut down.
func (s *Server) refuse(ws *websocket.Conn) {
	deadline := time.Now().Add(s.cfg.WriteWait)
	_ = ws.SetWriteDeadline(deadline)
	if ws.WriteMessage(websocket.TextMessage, proto.Encode(byeMessage())) == nil {
		msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, proto.CodeServerShutdown)
		_ = ws.WriteControl(websocket.CloseMessage, msg, deadline)
	}
	_ = ws.Close()
}

// stopAccepting marks the server closed and returns its connections.
func (s *Server) stopAccepting() []*conn {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return s.snapshot()
}

func (s *Server) snapshot() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track registers c and accounts for its two goroutines, unless the server
// is shutting down.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(2)
	return true
}

// untrack forgets c; its writer calls it on the way out.
func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.releaseIP(c.ip)
	s.wg.Done()
}

// backendContext bounds one Backend call.
func (s *Server) backendContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.cfg.BackendTimeout)
}
