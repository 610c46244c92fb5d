package sigtest

import (
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestStartMountRestart starts a server with an extra handler, stops it,
// and starts another on the same address.
func TestStartMountRestart(t *testing.T) {
	s := Start(t, Config{Mount: func(mux *http.ServeMux, base string) {
		mux.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, base) })
	}})
	if code, body := get(t, s.URL+"/hello"); code != http.StatusOK || body != s.URL {
		t.Fatalf("GET /hello = %d %q, want 200 %q", code, body, s.URL)
	}
	// A plain GET of the WebSocket path is refused by the server's
	// upgrade, not by the mux: the handler is mounted.
	if code, _ := get(t, s.URL+"/ws/room"); code == http.StatusNotFound || code == 0 {
		t.Fatalf("GET /ws/room = %d: the signalling handler is not mounted", code)
	}
	s.Stop()
	s.Stop() // a second Stop does nothing
	if code, _ := get(t, s.URL+"/hello"); code != 0 {
		t.Fatalf("GET after Stop answered %d", code)
	}
	s2 := Start(t, Config{Addr: s.Addr})
	if s2.URL != s.URL {
		t.Fatalf("restart on %s: URL %s", s.Addr, s2.URL)
	}
	if code, _ := get(t, s2.URL+"/hello"); code != http.StatusNotFound {
		t.Fatalf("GET /hello on a server without Mount = %d, want 404", code)
	}
}

// TestBoundaries checks the rule this package leans on: outside tests,
// signal and peer never import each other.
func TestBoundaries(t *testing.T) {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	for _, c := range []struct{ pkg, banned string }{
		{"github.com/videochat/videochat/peer", "github.com/videochat/videochat/signal"},
		{"github.com/videochat/videochat/signal", "github.com/videochat/videochat/peer"},
	} {
		out, err := exec.Command(gobin, "list", "-deps", c.pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", c.pkg, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 {
			t.Fatalf("go list -deps %s printed %d packages: not a dependency list", c.pkg, len(deps))
		}
		for _, d := range deps {
			if d == c.banned {
				t.Errorf("%s imports %s", c.pkg, c.banned)
			}
		}
	}
}
