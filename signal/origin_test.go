package signal

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

func TestOriginCheck(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		// origin builds the Origin header from the server's host:port.
		origin func(host string) string
		ok     bool
	}{
		{"no origin", nil, func(string) string { return "" }, true},
		{"same host", nil, func(h string) string { return "http://" + h }, true},
		{"same host other case", nil, func(h string) string { return "HTTP://" + strings.ToUpper(h) }, true},
		{"same host https", nil, func(h string) string { return "https://" + h }, true},
		{"foreign", nil, func(string) string { return "http://evil.example" }, false},
		{"same name other port", nil, func(h string) string { return "http://127.0.0.1:1" }, false},
		{"garbage", nil, func(string) string { return "::not a url" }, false},
		{"null", nil, func(string) string { return "null" }, false},
		{"allowed", []string{"https://app.example"}, func(string) string { return "https://app.example" }, true},
		{"allowed other case", []string{"https://App.Example"}, func(string) string { return "https://app.EXAMPLE" }, true},
		{"allowed other scheme", []string{"https://app.example"}, func(string) string { return "http://app.example" }, false},
		{"allowed other port", []string{"https://app.example"}, func(string) string { return "https://app.example:8443" }, false},
		{"wildcard", []string{"*"}, func(string) string { return "http://evil.example" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, Config{AllowedOrigins: tt.allowed})
			hdr := http.Header{}
			if o := tt.origin(strings.TrimPrefix(ts.http.URL, "http://")); o != "" {
				hdr.Set("Origin", o)
			}
			ws, resp, err := ts.dialRaw("r", hdr)
			if tt.ok {
				if err != nil {
					t.Fatalf("dial with Origin %q: %v", hdr.Get("Origin"), err)
				}
				ws.Close()
				return
			}
			if err == nil {
				ws.Close()
				t.Fatalf("Origin %q was accepted", hdr.Get("Origin"))
			}
			if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("dial with Origin %q: %v, want 403", hdr.Get("Origin"), err)
			}
		})
	}
}
