package web_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
)

// tileOf is a JavaScript expression: the tile (figure) of peer id.
func tileOf(id string) string {
	return fmt.Sprintf(`document.querySelector(%s).closest('figure')`, strconv.Quote(remoteVideo(id)))
}

// tileAttr reads data-NAME of the tile of peer id on page p.
func tileAttr(p *browsertest.Page, id, name string) string {
	return browsertest.Eval[string](p, fmt.Sprintf(`(() => { const f = %s; return f ? (f.getAttribute(%s) ?? '') : ''; })()`,
		tileOf(id), strconv.Quote("data-"+name)))
}

// waitTileAttr waits until data-NAME of the tile of peer id is want, and
// returns how long that took.
func waitTileAttr(t *testing.T, p *participant, id, name, want string, timeout time.Duration) time.Duration {
	t.Helper()
	cond := fmt.Sprintf(`(() => { const v = document.querySelector(%s); return !!v && v.closest('figure').getAttribute(%s) === %s; })()`,
		strconv.Quote(remoteVideo(id)), strconv.Quote("data-"+name), strconv.Quote(want))
	return p.For(t).WaitFor(fmt.Sprintf("%s: data-%s=%s on the tile of %s", p.name, name, want, id), cond, timeout)
}

// TestPeerState: mute and camera-off travel both ways as announced state
// within a second, a page that reloads gets the current state of the
// others, both ends show the same safety code, the link is graded, and
// malformed or over-long state messages get the documented refusal and
// change nothing.
func TestPeerState(t *testing.T) {
	s := startServer(t, 0)
	alice := join(t, s, "state", "alice")
	bob := join(t, s, "state", "bob")
	for _, pair := range [][2]*participant{{alice, bob}, {bob, alice}} {
		p, o := pair[0], pair[1]
		p.WaitFramesDecoded(o.id, 10)
		waitTileAttr(t, p, o.id, "mic", "on", 0)
		waitTileAttr(t, p, o.id, "camera", "on", 0)
	}

	t.Run("safety code", func(t *testing.T) {
		codes := map[string]string{}
		for _, pair := range [][2]*participant{{alice, bob}, {bob, alice}} {
			p, o := pair[0], pair[1]
			p.For(t).WaitFor("safety code", tileOf(o.id)+`.dataset.safetyCode !== ''`, 0)
			codes[p.name] = tileAttr(p.Page, o.id, "safety-code")
		}
		t.Logf("safety codes: %v", codes)
		if codes["alice"] != codes["bob"] {
			t.Errorf("the two ends show different codes: %v", codes)
		}
		if len(codes["alice"]) != len("12345 12345 12345 12345 12345 12345") {
			t.Errorf("code %q is not 6 groups of 5 digits", codes["alice"])
		}
	})

	t.Run("mute and camera off", func(t *testing.T) {
		for _, pair := range [][2]*participant{{alice, bob}, {bob, alice}} {
			p, o := pair[0], pair[1]
			p.For(t).Click("#toggle-audio")
			d := waitTileAttr(t, o, p.id, "mic", "off", 5*time.Second)
			t.Logf("%s muted: %s shows it after %v", p.name, o.name, d.Round(time.Millisecond))
			if d > time.Second {
				t.Errorf("mute took %v to show, want ≤ 1 s", d)
			}
			p.For(t).Click("#toggle-video")
			d = waitTileAttr(t, o, p.id, "camera", "off", 5*time.Second)
			t.Logf("%s camera off: %s shows it after %v", p.name, o.name, d.Round(time.Millisecond))
			if d > time.Second {
				t.Errorf("camera off took %v to show, want ≤ 1 s", d)
			}
			if !browsertest.Eval[bool](o.Page, tileOf(p.id)+`.querySelector('.avatar').offsetWidth > 0`) {
				t.Errorf("%s: the name is not shown in place of %s's video", o.name, p.name)
			}
		}
	})

	t.Run("rejoin gets current state", func(t *testing.T) {
		// alice is muted with her camera off (above); bob reloads.
		bob.Navigate(s.roomURL("state", "bob"))
		bob.WaitFor("joined again", `window.videochat && window.videochat.state === 'joined'`, 0)
		bob.id = browsertest.Eval[string](bob.Page, `window.videochat.id`)
		waitTileAttr(t, bob, alice.id, "mic", "off", 0)
		waitTileAttr(t, bob, alice.id, "camera", "off", 0)
		alice.For(t).Click("#toggle-audio")
		waitTileAttr(t, bob, alice.id, "mic", "on", 5*time.Second)
	})

	t.Run("quality", func(t *testing.T) {
		alice.For(t).WaitFor("quality measured", tileOf(bob.id)+`.querySelector('.quality').getAttribute('aria-label').includes('RTT')`, 0)
		waitTileAttr(t, alice, bob.id, "quality", "good", 0)
		detail := browsertest.Eval[string](alice.Page, tileOf(bob.id)+`.querySelector('.quality').getAttribute('aria-label')`)
		if !contains(detail, "RTT") || !contains(detail, "loss") {
			t.Errorf("the quality indicator does not give the numbers: %q", detail)
		}
		t.Logf("alice's indicator for bob: %s", detail)
	})

	t.Run("bad input", func(t *testing.T) {
		before := tileAttr(alice.Page, bob.id, "mic")
		bad := []struct{ text, code string }{
			{`{"type":"state","mic":"loud","camera":"on"}`, "bad-state"},
			{`{"type":"state"`, "bad-message"},
			{`[1,2]`, "bad-message"},
			{`{"type":"teleport"}`, "unknown-type"},
			{fmt.Sprintf(`{"type":"state","mic":"off","camera":"off","pad":"%0*d"}`, 20000, 0), "too-long"},
			{`{"type":"file-offer","id":"x","name":"a","size":-1,"sha256":"00"}`, "bad-file-offer"},
		}
		for _, b := range bad {
			if !browsertest.Eval[bool](bob.Page, fmt.Sprintf(`window.videochat.sendRaw(%s, %s)`, strconv.Quote(alice.id), strconv.Quote(b.text))) {
				t.Fatal("could not send on bob's chat channel")
			}
		}
		bob.For(t).WaitFor("every refusal", fmt.Sprintf(`window.videochat.refusals().length >= %d`, len(bad)), 10*time.Second)
		got := browsertest.Eval[[]struct{ Code, Ref string }](bob.Page, `window.videochat.refusals()`)
		for i, b := range bad {
			if got[i].Code != b.code {
				t.Errorf("refusal %d: code %q, want %q (%.60s)", i, got[i].Code, b.code, b.text)
			}
		}
		if after := tileAttr(alice.Page, bob.id, "mic"); after != before {
			t.Errorf("bad input changed bob's tile: data-mic %q → %q", before, after)
		}
	})
}
