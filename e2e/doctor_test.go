package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestDoctor: `videochat doctor` passes against a server with a working
// embedded TURN server, and fails with a clear message when a configured
// TURN server does not answer.
func TestDoctor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	doctor := func(url string) (int, string) {
		p := start(t, "doctor", "--server", url, "--ice-interface", "lo", "--mdns=false", "--timeout", "3s", "--json")
		code := p.wait(ctx)
		return code, p.output()
	}

	_, good := startServer(ctx, t, "--turn", "--turn-listen", "127.0.0.1:0", "--turn-allow-private")
	code, out := doctor(good)
	if code != 0 {
		t.Fatalf("healthy server: exit %d\n%s", code, out)
	}
	var r struct {
		OK    bool `json:"ok"`
		Paths []struct {
			OK         bool     `json:"ok"`
			Candidates []string `json:"candidates"`
		} `json:"paths"`
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &r); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, out)
	}
	if !r.OK || len(r.Paths) != 2 {
		t.Fatalf("want two working TURN paths (UDP, TCP), got %+v", r)
	}

	// A TURN server nobody listens on: port 9 (discard) on loopback.
	_, bad := startServer(ctx, t, "--turn-secret", "s", "--ice-server", "turn:127.0.0.1:9?transport=udp")
	code, out = doctor(bad)
	if code == 0 || !strings.Contains(out, "no relay candidate") {
		t.Fatalf("dead TURN server: exit %d, want failure naming the missing relay candidate\n%s", code, out)
	}
}
