// Package signal is videochat's signalling server: an http.Handler that
// speaks protocol v1 (package proto, PROTOCOL.md) over WebSockets, keeps
// rooms through a Backend and relays offers, answers and ICE candidates
// between the peers of a room.
//
// Each connection has one reader goroutine and a bounded send queue. A
// frame for an idle client is written by the goroutine that delivers it,
// with one non-blocking write; a writer goroutine runs only while more is
// queued than that (writer.go). A client whose queue overflows is
// evicted, so a slow client never holds up its room. One housekeeping goroutine per Server sends the pings and enforces
// the handshake timeout (pingwheel.go). Directed messages in the usual shape
// are relayed without a JSON decode (fastpath.go). Shutdown closes every
// connection and waits for all of the server's goroutines.
package signal

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/videochat/videochat/signal/internal/wsconn"
	"github.com/videochat/videochat/signal/proto"
)

// Server serves the signalling WebSocket. Create it with New.
type Server struct {
	cfg         Config
	backend     Backend
	ownsBackend bool
	log         *slog.Logger
	upgrader    *wsconn.Upgrader

	resumes resumeSigner
	metrics *Metrics
	epoch   time.Time // see now
	// inlineBackend: the Backend promises a non-blocking Send (see
	// NonBlocking), so directed messages skip the per-call timeout context.
	inlineBackend   bool
	readExtendEvery time.Duration
	relayCap        *rate.Limiter // Config.RelayRate; nil without a cap
	frames          sync.Pool     // *[]byte read buffers, see readFrame

	// mu guards the maps below and closed. It is held for map updates only,
	// never while delivering a frame or calling the Backend.
	mu       sync.Mutex
	nconns   int
	timers   timers              // the ping wheel holds every connection
	sessions map[string]*session // by sessionKey, attached or held
	rooms    map[string]int      // sessions per room, for MaxRooms
	perIP    map[string]int      // connections per remote IP
	closed   bool
	quit     chan struct{} // closed by Shutdown: held sessions end
	// wg counts two per tracked connection (its reader, and its writer's
	// final close), one per held session and one for runTimers.
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
		metrics:  cfg.Metrics,
		epoch:    time.Now(),
		sessions: make(map[string]*session),
		rooms:    make(map[string]int),
		perIP:    make(map[string]int),
		quit:     make(chan struct{}),
		resumes:  resumeSigner{secret: cfg.ResumeSecret, ttl: cfg.ResumeTTL, now: time.Now},
	}
	if s.metrics == nil {
		s.metrics = NewMetrics(prometheus.NewRegistry()) // kept, never exported
	}
	if s.backend == nil {
		s.backend = NewMemoryBackend()
		s.ownsBackend = true
	}
	if nb, ok := s.backend.(NonBlocking); ok {
		s.inlineBackend = nb.NonBlocking()
	}
	s.readExtendEvery = min(time.Second, cfg.PongWait/10)
	if cfg.RelayRate > 0 {
		s.relayCap = rate.NewLimiter(rate.Limit(cfg.RelayRate), cfg.RelayBurst)
	}
	s.frames.New = func() any {
		b := make([]byte, 0, 1024)
		return &b
	}
	s.upgrader = wsconn.NewUpgrader(wsconn.Config{CheckOrigin: s.checkOrigin, Plain: cfg.plainWebSocket})
	return s, nil
}

// ServeHTTP upgrades the request to the signalling WebSocket of the room
// named by the path value "room" (mount it at "GET /ws/{room}"). A request
// older than HTTP/1.1 gets 400 (RFC 6455 section 4.1), a foreign Origin
// 403, a remote address past MaxConnsPerIP 429, each without an upgrade;
// an invalid room name gets a bad-room error and close 1008 after the
// upgrade. After Shutdown it answers 503.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		s.metrics.refused(refusedShutdown)
		http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
		return
	}
	if !r.ProtoAtLeast(1, 1) {
		s.metrics.refused(refusedHandshake)
		http.Error(w, "the WebSocket handshake needs HTTP/1.1", http.StatusBadRequest)
		return
	}
	ip := remoteIP(r)
	if !s.admitIP(ip) {
		s.metrics.refused(refusedPerIP)
		s.log.Warn("too many connections from one address", "remote", r.RemoteAddr)
		http.Error(w, "too many connections from your address", http.StatusTooManyRequests)
		return
	}
	room := r.PathValue("room")
	ws, err := s.upgrader.Upgrade(w, r)
	if err != nil {
		// The upgrader has answered with an HTTP error already.
		s.metrics.refused(refusedHandshake)
		s.releaseIP(ip)
		s.log.Info("websocket handshake refused", "remote", r.RemoteAddr,
			"origin", r.Header.Get("Origin"), "err", err)
		return
	}
	c := newConn(s, ws, room, r.RemoteAddr, ip)
	if !s.track(c) {
		s.metrics.refused(refusedShutdown)
		s.releaseIP(ip)
		s.refuse(ws)
		return
	}
	if !proto.ValidRoom(room) {
		s.metrics.refused(proto.CodeBadRoom)
		c.fail(proto.Errorf(proto.CodeBadRoom, "room names are 1 to 64 letters, digits, '-', '_' or '.'"),
			wsconn.ClosePolicyViolation)
	}
	c.startReading()
}

// Shutdown stops accepting connections, sends every client a bye with code
// server-shutdown and closes it with 1001, ends the sessions held for a
// resume (their peers leave, as the connected ones do), and waits until all
// of the server's goroutines have returned. If ctx ends first the remaining
// connections are dropped at once; Shutdown still waits for their
// goroutines and returns ctx's error. A Backend the Server created itself is
// closed last. Calling Shutdown again waits in the same way.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true // no more connections
	s.mu.Unlock()
	conns := s.snapshot()
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
	s.metrics.conns.Set(0)
	if s.ownsBackend {
		s.closeBackend.Do(func() { s.backendErr = s.backend.Close() })
		if err == nil {
			err = s.backendErr
		}
	}
	return err
}

// refuse says bye to a connection upgraded while the server shut down.
func (s *Server) refuse(ws *wsconn.Conn) {
	deadline := time.Now().Add(s.cfg.WriteWait)
	if ws.Begin(deadline) == nil && ws.WriteText(proto.Encode(byeMessage())) == nil && ws.Flush() == nil {
		_ = ws.WriteClose(wsconn.CloseGoingAway, proto.CodeServerShutdown, deadline)
	}
	_ = ws.Close()
}

func (s *Server) snapshot() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*conn, 0, s.nconns)
	for _, slot := range s.timers.wheel {
		for c := range slot {
			out = append(out, c)
		}
	}
	return out
}

// track registers c and accounts for its reader and for its final close,
// unless the server is shutting down. The writers that run in between are
// covered by the second count: it is released by the last of them.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.addTimersLocked(c)
	s.nconns++
	s.metrics.conns.Set(float64(s.nconns))
	s.wg.Add(2)
	s.mu.Unlock()
	if f := s.cfg.ConnChurn; f != nil {
		f() // an open, outside the lock
	}
	return true
}

// untrack forgets c; its last writer calls it on the way out.
func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.timers.wheel[c.slot], c) // off the ping wheel
	s.nconns--
	s.metrics.conns.Set(float64(s.nconns))
	s.releaseIPLocked(c.ip) // with nconns: a dropped count means a free slot
	s.mu.Unlock()
	if f := s.cfg.ConnChurn; f != nil {
		f() // a close, before wg.Done: never after Shutdown returns
	}
	s.wg.Done()
}

// backendContext bounds one Backend call.
func (s *Server) backendContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.cfg.BackendTimeout)
}
