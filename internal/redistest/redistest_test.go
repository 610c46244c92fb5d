package redistest_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/videochat/videochat/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLifecycle starts a server and takes it through kill, restart, pause
// and resume, checking each time whether it answers PING.
func TestLifecycle(t *testing.T) {
	s := redistest.Start(t)
	if !redistest.Pings(s.Addr()) {
		t.Fatalf("%s does not answer after Start", s.Addr())
	}
	if want := "redis://" + s.Addr() + "/0"; s.URL() != want {
		t.Fatalf("URL %q, want %q", s.URL(), want)
	}
	if !strings.HasSuffix(s.Addr(), ":"+strconv.Itoa(s.Port())) {
		t.Fatalf("Addr %q does not end in port %d", s.Addr(), s.Port())
	}
	s.Kill()
	if redistest.Pings(s.Addr()) {
		t.Fatal("answers after Kill")
	}
	s.Kill() // a second Kill is a no-op
	s.Restart()
	if !redistest.Pings(s.Addr()) {
		t.Fatal("does not answer after Restart")
	}
	s.Pause()
	if redistest.Pings(s.Addr()) {
		t.Fatal("answers while paused")
	}
	s.Resume()
	if !redistest.Pings(s.Addr()) {
		t.Fatal("does not answer after Resume")
	}
	if !strings.Contains(s.Log(), "Ready to accept connections") {
		t.Fatalf("log lacks the ready line:\n%s", s.Log())
	}
}

// TestRestartRunning restarts a server that still runs: same port, no data.
func TestRestartRunning(t *testing.T) {
	s := redistest.Start(t)
	port := s.Port()
	s.Restart()
	if s.Port() != port || !redistest.Pings(s.Addr()) {
		t.Fatalf("after Restart: port %d (was %d), pings %v", s.Port(), port, redistest.Pings(s.Addr()))
	}
}

func TestPingsNothing(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t))
	if redistest.Pings(addr) {
		t.Fatalf("%s answers PING but nothing listens there", addr)
	}
}

// TestLaunch starts a server outside the TB lifecycle, as the signalling
// bench does, and stops it.
func TestLaunch(t *testing.T) {
	redistest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, url, err := redistest.Launch(ctx, redistest.LaunchConfig{MaxClients: 100})
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "redis://"), "/0")
	if !redistest.Pings(addr) {
		t.Fatalf("%s (from %q) does not answer PING", addr, url)
	}
	c.Close()
	if redistest.Pings(addr) {
		t.Fatal("answers after Close")
	}
}
