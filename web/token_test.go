package web_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/signal/token"
)

// unauthorizedText is what the call page says about a refused room token.
const unauthorizedText = "This link is not valid for this room (or has expired)"

// issue signs a room token with secret, failing the test on error.
func issue(t *testing.T, secret []byte, room, name string, ttl time.Duration) string {
	t.Helper()
	tok, err := token.Issue(secret, token.Claims{Room: room, Name: name, ExpiresAt: time.Now().Add(ttl)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// algNone returns an unsigned token ("alg": "none") with valid claims.
func algNone(t *testing.T, room, name string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	claims, err := json.Marshal(map[string]any{"room": room, "name": name, "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString(claims) + "."
}

// tokenURL is the call page of room with ?token=tok (and ?name=name when
// name is not empty).
func tokenURL(s *testServer, room, name, tok string) string {
	q := url.Values{"token": {tok}}
	if name != "" {
		q.Set("name", name)
	}
	return fmt.Sprintf("%s/room/%s?%s", s.URL, room, q.Encode())
}

// TestRoomToken runs a server that requires room tokens: a page with a
// valid ?token= joins under the token's name; pages with a missing,
// expired, unsigned (alg none), foreign-room or forged token see the
// unauthorized message, do not join and do not retry.
func TestRoomToken(t *testing.T) {
	secret := []byte(rand.Text())
	v, err := token.NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	s := startServerConfig(t, signal.Config{Tokens: v})
	const room = "secure"

	host := joinURL(t, "tina", tokenURL(s, room, "", issue(t, secret, room, "Tina", time.Hour)))
	if got := browsertest.Eval[string](host.Page, `window.videochat.name`); got != "Tina" {
		t.Errorf("page joined with a token for Tina shows name %q", got)
	}

	refused := browsertest.Launch(t, browsertest.Options{Name: "refused"})
	for _, tc := range []struct{ name, url string }{
		{"missing", s.roomURL(room, "Nobody")},
		{"expired", tokenURL(s, room, "", issue(t, secret, room, "Eve", -time.Hour))},
		{"alg none", tokenURL(s, room, "", algNone(t, room, "Mallory"))},
		{"wrong room", tokenURL(s, room, "", issue(t, secret, "other-room", "Oscar", time.Hour))},
		{"wrong secret", tokenURL(s, room, "", issue(t, []byte("not the server's secret"), room, "Trudy", time.Hour))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := refused.For(t)
			p.Navigate(tc.url)
			d := p.WaitFor("unauthorized state", `window.videochat.state === 'unauthorized'`, 0)
			text := browsertest.Eval[string](p, `document.querySelector('[data-notice-id="ended"]')?.textContent || ''`)
			if !contains(text, unauthorizedText) {
				t.Errorf("notice = %q, want it to contain %q", text, unauthorizedText)
			}
			if id := browsertest.Eval[string](p, `window.videochat.id || ''`); id != "" {
				t.Errorf("refused page has peer id %q", id)
			}
			// The call stays ended: no reconnect loop.
			if n := browsertest.Eval[int](p, `window.videochat.reconnects()`); n != 0 {
				t.Errorf("refused page reconnected %d times", n)
			}
			t.Logf("refused after %v", d.Round(time.Millisecond))
		})
	}
	if n := browsertest.Eval[int](host.Page, `document.querySelectorAll('#tiles figure.remote').length`); n != 0 {
		t.Errorf("the joined page shows %d remote tiles after refused joins, want 0", n)
	}

	// A second valid token: the name in the URL is ignored, the token's wins.
	guest := joinURL(t, "uma", tokenURL(s, room, "Impostor", issue(t, secret, room, "Uma", time.Hour)))
	sel := remoteVideo(guest.id)
	host.WaitFor("guest's tile", fmt.Sprintf(`document.querySelector(%s)`, strconv.Quote(sel)), 0)
	if name := browsertest.Eval[string](host.Page, fmt.Sprintf(`document.querySelector(%s).dataset.peerName`, strconv.Quote(sel))); name != "Uma" {
		t.Errorf("host shows the guest as %q, want the token's name Uma", name)
	}
	host.WaitFramesDecoded(guest.id, minFrames)
}

// TestViewerToken: a page whose room token has can_publish false joins
// without asking for camera or microphone, receives the others' video,
// sends nothing (the server would refuse its offers and answers if they
// sent media), and says so.
func TestViewerToken(t *testing.T) {
	secret := []byte(rand.Text())
	v, err := token.NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	s := startServerConfig(t, signal.Config{Tokens: v})
	const room = "stage"
	no := false
	viewerTok, err := token.Issue(secret, token.Claims{Room: room, Name: "Vera", CanPublish: &no, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}

	pub := joinURL(t, "pub", tokenURL(s, room, "", issue(t, secret, room, "Paul", time.Hour)))
	viewer := joinURL(t, "viewer", tokenURL(s, room, "", viewerTok))
	viewer.WaitFramesDecoded(pub.id, minFrames)

	if got := browsertest.Eval[string](viewer.Page, `document.getElementById('local-video').srcObject === null ? 'none' : 'stream'`); got != "none" {
		t.Errorf("viewer's local preview has a %s, want none", got)
	}
	senders := fmt.Sprintf(`window.videochat.peers().get(%s).getSenders().filter((s) => s.track).length`, strconv.Quote(pub.id))
	if n := browsertest.Eval[int](viewer.Page, senders); n != 0 {
		t.Errorf("viewer sends %d tracks to the publisher, want 0", n)
	}
	text := browsertest.Eval[string](viewer.Page, `document.querySelector('[data-notice-id="media"]')?.textContent || ''`)
	if !contains(text, "This link lets you watch and listen") {
		t.Errorf("viewer's media notice = %q", text)
	}
	if n := browsertest.Eval[int](viewer.Page, `document.querySelectorAll('[data-notice-id="error-forbidden"]').length`); n != 0 {
		t.Error("the server refused one of the viewer's offers or answers")
	}
	for _, id := range []string{"toggle-audio", "toggle-video", "share-screen"} {
		if !browsertest.Eval[bool](viewer.Page, fmt.Sprintf(`document.getElementById(%q).disabled`, id)) {
			t.Errorf("viewer's %s button is enabled", id)
		}
	}
	// The publisher's connection to the viewer is up and receives no media.
	inbound := fmt.Sprintf(`window.videochat.peers().get(%s).getStats().then((s) =>
		[...s.values()].filter((r) => r.type === 'inbound-rtp' && r.packetsReceived > 0).length)`, strconv.Quote(viewer.id))
	pub.WaitFor("connection to the viewer", fmt.Sprintf(`window.videochat.peers().get(%s)?.connectionState === 'connected'`, strconv.Quote(viewer.id)), 0)
	if n := browsertest.Eval[int](pub.Page, inbound); n != 0 {
		t.Errorf("publisher receives %d media streams from the viewer, want 0", n)
	}
}
