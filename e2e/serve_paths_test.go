package e2e

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeWSPaths: a /ws/ path that is not in clean form names no room
// and gets 404, not a redirect to the cleaned path (which the ServeMux
// would answer with 307), also as a WebSocket upgrade request.
func TestServeWSPaths(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, url := startServer(ctx, t)
	host := strings.TrimPrefix(url, "http://")
	for _, p := range []string{"/ws/..", "/ws/.", "/ws/./r", "/ws/../ws/r", "/ws//r", "/ws/r/", "/ws/%2e%2e"} {
		for _, upgrade := range []bool{false, true} {
			if got := rawStatus(t, host, p, upgrade); got != http.StatusNotFound {
				t.Errorf("GET %s (upgrade %v): %d, want 404", p, upgrade, got)
			}
		}
	}
}

// rawStatus sends GET path to host as written (an HTTP client would clean
// it) and returns the status code.
func rawStatus(t *testing.T, host, path string, upgrade bool) int {
	t.Helper()
	nc, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n"
	if upgrade {
		req += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	}
	if _, err := nc.Write([]byte(req + "\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
