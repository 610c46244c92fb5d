package e2e

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/videochat/videochat/signal/proto"
)

// TestServeTLSSelfSigned: --tls-self-signed serves https and wss.
func TestServeTLSSelfSigned(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, url := startServer(ctx, t, "--tls-self-signed")
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("server URL %q is not https", url)
	}
	insecure := &tls.Config{InsecureSkipVerify: true} // self-signed by design
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: insecure}}
	resp, err := client.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("GET /healthz over TLS: %d %q", resp.StatusCode, body)
	}
	d := websocket.Dialer{TLSClientConfig: insecure}
	ws, _, err := d.DialContext(ctx, "wss"+strings.TrimPrefix(url, "https")+"/ws/tls", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteJSON(proto.Message{Type: proto.TypeJoin, Version: proto.Version, Name: "secure"}); err != nil {
		t.Fatal(err)
	}
	var m proto.Message
	if err := ws.ReadJSON(&m); err != nil || m.Type != proto.TypeWelcome {
		t.Fatalf("want welcome over wss, got %+v, %v", m, err)
	}
}

// TestServeTokenSecret: with --token-secret a join needs a token from
// `videochat token`; without one, or with one for another room, the
// answer is unauthorized.
func TestServeTokenSecret(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const secret = "e2e-secret"
	_, url := startServer(ctx, t, "--token-secret", secret)
	mint := func(room string) string {
		p := start(t, "token", "--token-secret", secret, "--room", room, "--name", "alice", "--ttl", "5m")
		if code := p.wait(ctx); code != 0 {
			t.Fatalf("videochat token: exit %d\n%s", code, p.output())
		}
		return strings.TrimSpace(p.output())
	}
	for _, tc := range []struct {
		name, tok, want string
	}{
		{"valid", mint("vip"), proto.TypeWelcome},
		{"missing", "", proto.CodeUnauthorized},
		{"other room", mint("other"), proto.CodeUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(url, "http")+"/ws/vip", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			if err := ws.WriteJSON(proto.Message{Type: proto.TypeJoin, Version: proto.Version, Name: "alice", Token: tc.tok}); err != nil {
				t.Fatal(err)
			}
			var m proto.Message
			if err := ws.ReadJSON(&m); err != nil {
				t.Fatal(err)
			}
			got := m.Type
			if m.Type == proto.TypeError {
				got = m.Code
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %s", m, tc.want)
			}
		})
	}
}

// TestServeMetrics: /metrics exposes the signalling gauges and counters,
// and they follow what happens in the rooms; /debug/pprof/ is there only
// with --pprof.
func TestServeMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, url := startServer(ctx, t, "--pprof")
	observe(ctx, t, url, "metrics")
	body := get(t, url+"/metrics")
	for _, want := range []string{"videochat_signal_peers 1", "videochat_signal_rooms 1", "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !strings.Contains(get(t, url+"/debug/pprof/"), "goroutine") {
		t.Error("--pprof: /debug/pprof/ does not list profiles")
	}
	_, plain := startServer(ctx, t)
	resp, err := http.Get(plain + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("/debug/pprof/ served without --pprof")
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	return string(b)
}

// TestServeRelayRate: serve --relay-rate caps the directed messages the
// server relays; past the cap the sender gets overloaded and
// /metrics counts what was shed.
func TestServeRelayRate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, url := startServer(ctx, t, "--relay-rate", "2", "--relay-burst", "2")
	b := observe(ctx, t, url, "cap")
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(url, "http")+"/ws/cap", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteJSON(proto.Message{Type: proto.TypeJoin, Version: proto.Version, Name: "flood"}); err != nil {
		t.Fatal(err)
	}
	var w proto.Message
	if err := ws.ReadJSON(&w); err != nil || w.Type != proto.TypeWelcome || len(w.Peers) != 1 {
		t.Fatalf("welcome: %+v, %v; want one peer in the room", w, err)
	}
	for range 20 {
		if err := ws.WriteJSON(proto.Message{Type: proto.TypeOffer, To: w.Peers[0].ID, SDP: "v=0"}); err != nil {
			t.Fatal(err)
		}
	}
	var m proto.Message
	if err := ws.ReadJSON(&m); err != nil || m.Code != proto.CodeOverloaded || m.Ref != proto.TypeOffer {
		t.Fatalf("sender got %+v, %v; want overloaded for an offer", m, err)
	}
	if m := b.next(ctx, proto.TypeOffer); m.SDP != "v=0" {
		t.Fatalf("receiver got %+v, want an offer within the cap", m)
	}
	body := get(t, url+"/metrics")
	if !strings.Contains(body, "videochat_signal_shed_messages_total") ||
		strings.Contains(body, "videochat_signal_shed_messages_total 0\n") {
		t.Errorf("/metrics does not count shed messages:\n%s", grepLines(body, "shed"))
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestJoinViewerToken: `videochat join` with a token made by
// `videochat token --can-publish=false` leaves camera and microphone closed
// (this machine has none: opening them would fail) and receives a
// publisher's media; the probe passes.
func TestJoinViewerToken(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const secret = "e2e-viewer-secret"
	_, url := startServer(ctx, t, "--token-secret", secret)
	mint := func(name string, extra ...string) string {
		p := start(t, append([]string{"token", "--token-secret", secret, "--room", "stage", "--name", name}, extra...)...)
		if code := p.wait(ctx); code != 0 {
			t.Fatalf("videochat token: exit %d\n%s", code, p.output())
		}
		return strings.TrimSpace(p.output())
	}
	pub := start(t, joinArgs(url, "stage", "pub", "--token", mint("pub"), "--video", "test", "--audio", "test")...)
	defer pub.stop(time.Second)
	viewer := start(t, joinArgs(url, "stage", "viewer", "--token", mint("viewer", "--can-publish=false"),
		"--video", "camera", "--audio", "mic", "--expect", "1", "--duration", "6s", "--log-level", "info")...)
	if code := viewer.wait(ctx); code != 0 {
		t.Fatalf("viewer probe: exit %d, want 0\n%s", code, viewer.output())
	}
	if out := viewer.output(); !strings.Contains(out, "does not allow publishing") {
		t.Errorf("viewer did not say it joins receive-only:\n%s", out)
	}
}
