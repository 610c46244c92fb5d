// Package sigtest runs the real signalling server (package signal) on
// loopback for the tests of other packages, such as peer and whip: one
// httptest server with the WebSocket handler at GET /ws/{room} and, when
// asked, more handlers on the same mux.
//
// Only _test.go files import it. peer's tests drive a real in-process
// server through it; peer's non-test code still never imports signal (and
// signal never imports peer), which TestBoundaries in this package checks.
//
// Invariant: a Server is stopped (Shutdown, then its listener closed) once,
// by Stop or at the end of the test, whichever comes first. A stopped
// server's port stays reserved (porttest) until the test ends: no other
// process's server takes it while peers keep dialling it, and a restart
// on it (Config.Addr) still binds.
package sigtest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/logtest"
	"github.com/videochat/videochat/internal/porttest"
	"github.com/videochat/videochat/signal"
)

// shutdownTimeout bounds Stop's wait for the server's connections to end;
// generous for a shared machine.
const shutdownTimeout = 30 * time.Second

// Config describes a server to start.
type Config struct {
	// Signal configures the server; a nil Logger logs to the test.
	Signal signal.Config
	// Addr is the TCP address to listen on: "" picks a free loopback port;
	// the Addr of a stopped Server starts a new one in its place.
	Addr string
	// Mount, when set, adds handlers beside /ws/{room}; base is the
	// server's URL (known before it starts).
	Mount func(mux *http.ServeMux, base string)
}

// Server is a running signalling server.
type Server struct {
	// URL is the base URL, http://127.0.0.1:port.
	URL string
	// Addr is the listening address, 127.0.0.1:port.
	Addr string
	// Signal is the server itself.
	Signal *signal.Server

	tb   testing.TB
	hs   *httptest.Server
	once sync.Once
}

// Start runs a signalling server with cfg. It is stopped when the test
// ends if the test did not stop it.
func Start(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	if cfg.Signal.Logger == nil {
		cfg.Signal.Logger = logtest.New(tb).With("side", "signal")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	srv, err := signal.New(cfg.Signal)
	if err != nil {
		tb.Fatalf("signal.New: %v", err)
	}
	l, err := net.Listen("tcp4", cfg.Addr)
	if err != nil {
		tb.Fatalf("listen %s: %v", cfg.Addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws/{room}", srv)
	hs := httptest.NewUnstartedServer(mux)
	_ = hs.Listener.Close()
	hs.Listener = l
	s := &Server{URL: "http://" + l.Addr().String(), Addr: l.Addr().String(), Signal: srv, tb: tb, hs: hs}
	tb.Cleanup(s.Stop) // before Mount, whose cleanups then run first
	if cfg.Mount != nil {
		cfg.Mount(mux, s.URL)
	}
	hs.Start()
	return s
}

// Stop shuts the server down (every client gets bye) and closes its
// listener. Calls after the first do nothing.
func (s *Server) Stop() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := s.Signal.Shutdown(ctx); err != nil {
			s.tb.Errorf("signal Shutdown: %v", err)
		}
		s.hs.Close()
		if err := porttest.Reserve(s.tb, s.Addr); err != nil {
			s.tb.Logf("sigtest: %v", err)
		}
	})
}
