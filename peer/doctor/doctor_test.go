package doctor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/internal/looptest"
	"github.com/videochat/videochat/peer/doctor"
	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/signal/proto"
	"github.com/videochat/videochat/signal/turn"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// loopbackOnly keeps ICE on 127.0.0.1 over UDP and TCP, without mDNS.
func loopbackOnly(se *webrtc.SettingEngine) {
	looptest.Restrict(se, webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4)
}

// startTURN starts the embedded TURN server on 127.0.0.1 (relaying to
// loopback allowed); it closes in t's cleanup.
func startTURN(t *testing.T) *turn.Server {
	t.Helper()
	s, err := turn.New(turn.Config{ListenUDP: "127.0.0.1:0", ListenTCP: "127.0.0.1:0",
		AllowPrivate: true, Logger: testLogger(t).With("component", "turn")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// startSignal serves the signalling server whose welcome carries ice.
func startSignal(t *testing.T, ice func(string) []proto.ICEServer) string {
	t.Helper()
	sig, err := signal.New(signal.Config{ICEServers: ice, Logger: testLogger(t).With("component", "signal")})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws/{room}", sig)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sig.Shutdown(ctx); err != nil {
			t.Errorf("signal shutdown: %v", err)
		}
		srv.Close()
	})
	return srv.URL
}

func run(t *testing.T, server string, timeout time.Duration) doctor.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := doctor.Run(ctx, doctor.Config{Server: server, Timeout: timeout, SettingEngine: loopbackOnly, Logger: testLogger(t)})
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", buf.String())
	return r
}

// stunURL is the TURN server's UDP address as a STUN URL: pion's TURN
// server answers STUN binding requests too.
func stunURL(s *turn.Server) string {
	udp, _ := s.Addrs()
	return "stun:" + udp.String()
}

func TestHealthyServer(t *testing.T) {
	ts := startTURN(t)
	server := startSignal(t, func(id string) []proto.ICEServer {
		return append(ts.ICEServers(id), proto.ICEServer{URLs: []string{stunURL(ts)}})
	})
	r := run(t, server, 10*time.Second)
	if !r.OK || !r.Join.OK {
		t.Fatalf("report not OK: %+v", r)
	}
	want := map[string]string{"turn/udp": "relay", "turn/tcp": "relay", "stun/udp": "srflx"}
	if len(r.Paths) != len(want) {
		t.Fatalf("%d paths, want %d: %+v", len(r.Paths), len(want), r.Paths)
	}
	for _, p := range r.Paths {
		typ, ok := want[p.Kind+"/"+p.Transport]
		if !ok || !p.OK || !strings.Contains(strings.Join(p.Candidates, ","), typ) || len(p.Addresses) == 0 {
			t.Errorf("path %+v, want ok with a %s candidate", p, typ)
		}
	}
	// The JSON form carries the same verdict.
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		OK    bool `json:"ok"`
		Paths []struct {
			URL        string   `json:"url"`
			Candidates []string `json:"candidates"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(b, &back); err != nil || !back.OK || len(back.Paths) != 3 || back.Paths[0].URL == "" {
		t.Errorf("JSON %s: %+v %v", b, back, err)
	}
}

func TestTURNDown(t *testing.T) {
	ts := startTURN(t)
	server := startSignal(t, ts.ICEServers)
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	r := run(t, server, 3*time.Second)
	if r.OK || !r.Join.OK || len(r.Paths) != 2 {
		t.Fatalf("report %+v, want the join ok and two failed paths", r)
	}
	for _, p := range r.Paths {
		if p.OK || slicesContains(p.Candidates, "relay") {
			t.Errorf("path %s ok with TURN down: %+v", p.URL, p)
		}
		if !strings.Contains(p.Message, "TURN "+p.URL+": ") || !strings.Contains(p.Message, "without a relay candidate") &&
			!strings.Contains(p.Message, "no relay candidate within 3s") ||
			!strings.Contains(p.Message, "server unreachable or credentials refused") {
			t.Errorf("unclear message %q", p.Message)
		}
	}
	var buf bytes.Buffer
	_ = r.Write(&buf)
	if !strings.Contains(buf.String(), "FAIL") || !strings.Contains(buf.String(), "FAILED") {
		t.Errorf("human report has no FAIL verdict:\n%s", buf.String())
	}
}

// TestForgedCredentials: a server handing out credentials of another
// secret makes the TURN paths fail, and the report names the 401.
func TestForgedCredentials(t *testing.T) {
	ts := startTURN(t)
	forged, err := turn.ICEServers(ts.URLs(), []byte("not the secret"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, startSignal(t, forged), 3*time.Second)
	if r.OK || len(r.Paths) != 2 {
		t.Fatalf("report %+v, want two failed paths", r)
	}
	for _, p := range r.Paths {
		if p.OK || !strings.Contains(p.Message, "401") {
			t.Errorf("path %s: %q, want a failure naming the 401", p.URL, p.Message)
		}
	}
}

func TestNoServer(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	r := run(t, "http://"+addr, 3*time.Second)
	if r.OK || r.Join.OK || len(r.Paths) != 0 {
		t.Fatalf("report %+v, want a failed join and no paths", r)
	}
	if !strings.Contains(r.Join.Message, "ws://"+addr+"/ws/") || !strings.Contains(r.Join.Message, "unreachable") {
		t.Errorf("join message %q", r.Join.Message)
	}
}

func TestNoICEServers(t *testing.T) {
	r := run(t, startSignal(t, nil), 3*time.Second)
	if !r.OK || !r.Join.OK || len(r.Paths) != 0 || len(r.Notes) == 0 {
		t.Fatalf("report %+v, want ok with a note about missing ICE servers", r)
	}
}

func TestBadServerURL(t *testing.T) {
	r := run(t, "ftp://example.org", time.Second)
	if r.OK || r.Join.OK || !strings.Contains(r.Join.Message, "scheme") {
		t.Fatalf("report %+v", r)
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
