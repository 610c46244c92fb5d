package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/internal/porttest"
	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/web"
)

// testServer is the signalling server and the web client on one mux, as
// cmd/videochat wires them, on a loopback httptest server.
type testServer struct {
	URL  string
	Addr string // host:port it listens on
	sig  *signal.Server
	srv  *httptest.Server
}

// startServer starts a server whose rooms hold maxPeers (0: default). It
// shuts down in t's cleanup, after the browsers launched later have closed.
func startServer(t *testing.T, maxPeers int) *testServer {
	t.Helper()
	return startServerConfig(t, signal.Config{MaxPeers: maxPeers})
}

// startServerConfig is startServer with a signalling server configured by
// cfg (its Logger is replaced by the test's).
func startServerConfig(t *testing.T, cfg signal.Config) *testServer {
	t.Helper()
	return startServerAt(t, "127.0.0.1:0", cfg)
}

// startServerAt is startServerConfig listening on addr, e.g. the address
// of a server that was stopped, to bring it back on the same port.
func startServerAt(t *testing.T, addr string, cfg signal.Config) *testServer {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg.Logger = log
	sig, err := signal.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws/{room}", sig)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	mux.Handle("/", web.Handler(web.Config{Logger: log.With("component", "web")}))
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	srv.Start()
	s := &testServer{URL: srv.URL, Addr: ln.Addr().String(), sig: sig, srv: srv}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop shuts the signalling server down and closes the listener; the
// cleanup's second call only waits again.
func (s *testServer) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.sig.Shutdown(ctx); err != nil {
		t.Errorf("signal shutdown: %v", err)
	}
	s.srv.Close()
	// The port stays reserved: a restart on it (startServerAt) still binds,
	// another process's bind to port 0 does not take it meanwhile.
	if err := porttest.Reserve(t, s.Addr); err != nil {
		t.Logf("%v", err)
	}
}

// roomURL returns the call page URL of room joining as name.
func (s *testServer) roomURL(room, name string) string {
	return fmt.Sprintf("%s/room/%s?name=%s", s.URL, url.PathEscape(room), url.QueryEscape(name))
}

// participant is one browser in a call.
type participant struct {
	*browsertest.Page
	name string
	id   string
}

// join launches a browser and joins room as name, waiting for the welcome.
func join(t *testing.T, s *testServer, room, name string) *participant {
	t.Helper()
	return joinURL(t, name, s.roomURL(room, name))
}

// joinURL launches a browser named name, opens the call page at url and
// waits for the welcome.
func joinURL(t *testing.T, name, url string) *participant {
	t.Helper()
	p := browsertest.Launch(t, browsertest.Options{Name: name})
	p.Navigate(url)
	p.WaitFor("joined", `window.videochat && window.videochat.state === 'joined'`, 0)
	id := browsertest.Eval[string](p, `window.videochat.id`)
	if id == "" {
		t.Fatalf("%s: joined without a peer id", name)
	}
	return &participant{Page: p, name: name, id: id}
}

// remoteVideo is the CSS selector of the tile video of peer id.
func remoteVideo(id string) string {
	return fmt.Sprintf(`video[data-peer-id=%s]`, strconv.Quote(id))
}

// firstFrameCond is a JavaScript condition: some remote video frame decoded.
const firstFrameCond = `window.videochat && Promise.all([...window.videochat.peers().values()].map((pc) => pc.getStats()))
	.then((all) => all.some((s) => [...s.values()].some((r) => r.type === 'inbound-rtp' && r.kind === 'video' && r.framesDecoded > 0)))`

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// shutdownServer shuts the signalling server down now (cleanup repeats it).
func shutdownServer(t *testing.T, s *testServer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.sig.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}
