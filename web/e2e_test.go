package web_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/signal"
)

// minFrames is how many frames each page must decode from each other page.
const minFrames = 30

// startMesh joins names to one room, one browser each, and logs for each
// newcomer the time from navigation to its first decoded remote frame.
func startMesh(t *testing.T, s *testServer, room string, names ...string) []*participant {
	t.Helper()
	var ps []*participant
	for i, name := range names {
		p := browsertest.Launch(t, browsertest.Options{Name: name})
		start := time.Now()
		p.Navigate(s.roomURL(room, name))
		p.WaitFor("joined", `window.videochat && window.videochat.state === 'joined'`, 0)
		if i > 0 {
			p.WaitFor("first remote frame", firstFrameCond, 0)
			t.Logf("%s: navigation → first remote video frame decoded: %v (peers already in room: %d)",
				name, time.Since(start).Round(time.Millisecond), i)
		}
		ps = append(ps, &participant{Page: p, name: name, id: browsertest.Eval[string](p, `window.videochat.id`)})
	}
	return ps
}

// TestMeshCall runs a three-browser call: everyone sees live video from
// both others, chat reaches everyone, and a leaver vanishes quickly.
func TestMeshCall(t *testing.T) {
	// A page that vanished without a leave would stay in the room for the
	// whole resume grace: a leaver's tile that goes during the test went
	// because it left (how fast is logged; the machine's load sets it).
	s := startServerConfig(t, signal.Config{ResumeGrace: 10 * time.Minute})
	ps := startMesh(t, s, "mesh", "alice", "bob", "carol")

	t.Run("video", func(t *testing.T) {
		for _, p := range ps {
			pg := p.For(t)
			for _, o := range ps {
				if o == p {
					continue
				}
				sel := remoteVideo(o.id)
				pg.WaitFor("tile of "+o.name, fmt.Sprintf(`document.querySelector(%s)`, strconv.Quote(sel)), 0)
				name := browsertest.Eval[string](pg, fmt.Sprintf(`document.querySelector(%s).dataset.peerName`, strconv.Quote(sel)))
				if name != o.name {
					t.Errorf("%s: tile of %s has data-peer-name %q", p.name, o.id, name)
				}
				if browsertest.Eval[bool](pg, fmt.Sprintf(`document.querySelector(%s).muted`, strconv.Quote(sel))) {
					t.Errorf("%s: remote video of %s is muted", p.name, o.name)
				}
				pg.WaitFramesDecoded(o.id, minFrames)
				sd := pg.WaitNonBlack(sel)
				n, err := pg.FramesDecoded(o.id)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s sees %s: %d frames decoded, luma stddev %.1f", p.name, o.name, n, sd)
			}
			if !browsertest.Eval[bool](pg, `document.querySelector('#local-video').muted`) {
				t.Errorf("%s: local preview is not muted", p.name)
			}
		}
	})

	t.Run("camera toggle", func(t *testing.T) {
		sender, viewer := ps[0], ps[1].For(t)
		sel := remoteVideo(sender.id)
		darkCond := fmt.Sprintf(`(() => {
			const v = document.querySelector(%s);
			const c = document.createElement('canvas'); c.width = 64; c.height = 48;
			const g = c.getContext('2d'); g.drawImage(v, 0, 0, 64, 48);
			const d = g.getImageData(0, 0, 64, 48).data;
			let max = 0; for (let i = 0; i < d.length; i += 4) max = Math.max(max, d[i], d[i + 1], d[i + 2]);
			return max < 20;
		})()`, strconv.Quote(sel))
		sender.For(t).Click("#toggle-video")
		viewer.WaitFor(sender.name+"'s video black after camera off", darkCond, 0)
		if got := browsertest.Eval[string](sender.Page, `document.querySelector('#toggle-video').getAttribute('aria-pressed')`); got != "true" {
			t.Errorf("#toggle-video aria-pressed = %q after turning the camera off", got)
		}
		sender.For(t).Click("#toggle-video")
		viewer.WaitNonBlack(sel)
	})

	t.Run("chat", func(t *testing.T) {
		sender := ps[1]
		text := fmt.Sprintf("hello from %s at %d", sender.name, time.Now().UnixNano())
		pg := sender.For(t)
		pg.SetValue("#chat-input", text)
		pg.Click(`#chat-form button[type=submit]`)
		want := sender.name + ": " + text
		cond := fmt.Sprintf(`[...document.querySelectorAll('#chat-log > *')].some((el) => el.textContent === %s)`, strconv.Quote(want))
		for _, p := range ps {
			d := p.For(t).WaitFor(fmt.Sprintf("chat line %q", want), cond, 10*time.Second)
			t.Logf("%s shows %q after %v", p.name, want, d.Round(time.Millisecond))
		}
		if v := browsertest.Eval[string](pg, `document.querySelector('#chat-input').value`); v != "" {
			t.Errorf("chat input not cleared: %q", v)
		}
	})

	t.Run("leave", func(t *testing.T) {
		leaver := ps[2]
		stayers := ps[:2]
		// Timestamps are taken in the pages (Date.now(), one machine clock):
		// the click as the button receives it, the tile's removal as a
		// MutationObserver sees it.
		for _, p := range stayers {
			browsertest.Eval[bool](p.Page, fmt.Sprintf(`(() => {
				const sel = %s;
				window.__tileGone = 0;
				new MutationObserver((_, obs) => {
					if (!document.querySelector(sel)) { window.__tileGone = Date.now(); obs.disconnect(); }
				}).observe(document.getElementById('tiles'), {childList: true, subtree: true});
				return true;
			})()`, strconv.Quote(remoteVideo(leaver.id))))
		}
		browsertest.Eval[bool](leaver.Page, `(document.getElementById('leave').addEventListener('click',
			() => { window.__clicked = Date.now(); }, {capture: true, once: true}), true)`)
		leaver.For(t).Click("#leave")
		clickedAt := browsertest.Eval[float64](leaver.Page, `window.__clicked || 0`)
		if clickedAt == 0 {
			t.Fatal("the click did not reach #leave")
		}
		for _, p := range stayers {
			pg := p.For(t)
			pg.WaitFor("tile of "+leaver.name+" removed", fmt.Sprintf(`window.__tileGone > 0 && !window.videochat.peers().has(%s)`,
				strconv.Quote(leaver.id)), 0)
			gone := time.Duration(browsertest.Eval[float64](pg, `window.__tileGone`)-clickedAt) * time.Millisecond
			t.Logf("%s: tile of %s removed %v after the click", p.name, leaver.name, gone)
		}
		lp := leaver.For(t)
		lp.WaitFor("left state", `window.videochat.state === 'left' && window.videochat.peers().size === 0 && !document.querySelector('video[data-peer-id]')`, 5*time.Second)
		// The two who stayed still see each other.
		for i, p := range stayers {
			other := stayers[1-i]
			before, err := p.FramesDecoded(other.id)
			if err != nil {
				t.Fatal(err)
			}
			p.For(t).WaitFramesDecoded(other.id, before+10)
		}
	})
}

// TestReceiveOnly joins a browser without camera and microphone: it says so
// on the page and still receives video, whether it offers (it was there
// first) or answers (it came second).
func TestReceiveOnly(t *testing.T) {
	s := startServer(t, 0)
	noDevices := map[string]any{"use-fake-device-for-media-stream": false}
	for _, order := range []string{"first", "second"} {
		t.Run("joins "+order, func(t *testing.T) {
			room := "recvonly-" + order
			var watcher, sender *participant
			launchWatcher := func() {
				p := browsertest.Launch(t, browsertest.Options{Name: "watcher-" + order, Flags: noDevices})
				p.Navigate(s.roomURL(room, "watcher"))
				p.WaitFor("joined", `window.videochat && window.videochat.state === 'joined'`, 0)
				watcher = &participant{Page: p, name: "watcher", id: browsertest.Eval[string](p, `window.videochat.id`)}
			}
			if order == "first" {
				launchWatcher()
				sender = join(t, s, room, "sender")
			} else {
				sender = join(t, s, room, "sender")
				launchWatcher()
			}
			text := browsertest.Eval[string](watcher.Page, `document.querySelector('#notices').textContent`)
			if !contains(text, "receive-only") {
				t.Errorf("watcher's notices = %q, want a receive-only message", text)
			}
			watcher.WaitFramesDecoded(sender.id, minFrames)
			watcher.WaitNonBlack(remoteVideo(sender.id))
			sender.WaitFor("watcher's tile", fmt.Sprintf(`document.querySelector(%s)`, strconv.Quote(remoteVideo(watcher.id))), 0)
			if n, err := sender.FramesDecoded(watcher.id); err != nil || n > 0 {
				t.Errorf("sender decoded %d frames (err %v) from a peer without camera", n, err)
			}
		})
	}
}

// TestLandingAndNamePrompt joins through the landing page form, then through
// the call page's own name prompt.
func TestLandingAndNamePrompt(t *testing.T) {
	s := startServer(t, 0)
	p := browsertest.Launch(t, browsertest.Options{Name: "dora"})
	p.Navigate(s.URL + "/")
	p.SetValue("#room-input", "landing.room")
	p.SetValue("#name-input", "Dora Explorer")
	p.Click("#join")
	p.WaitFor("room page joined", `location.pathname === '/room/landing.room' &&
		new URLSearchParams(location.search).get('name') === 'Dora Explorer' &&
		window.videochat && window.videochat.state === 'joined'`, 0)
	if got := browsertest.Eval[string](p, `window.videochat.name`); got != "Dora Explorer" {
		t.Errorf("joined as %q", got)
	}

	p.Navigate(s.URL + "/room/prompted")
	p.WaitFor("name prompt", `!document.querySelector('#name-form').hidden && window.videochat.state === 'idle'`, 0)
	p.SetValue("#name-form #name-input", "Prompted")
	p.Click(`#name-form button[type=submit]`)
	p.WaitFor("joined after prompt", `window.videochat.state === 'joined' && window.videochat.name === 'Prompted' &&
		new URLSearchParams(location.search).get('name') === 'Prompted'`, 0)
}

// TestRoomFull shows the room-full message to the page that does not fit.
func TestRoomFull(t *testing.T) {
	s := startServer(t, 1)
	join(t, s, "tiny", "first")
	p := browsertest.Launch(t, browsertest.Options{Name: "second"})
	p.Navigate(s.roomURL("tiny", "second"))
	p.WaitFor("room-full state", `window.videochat.state === 'full'`, 0)
	text := browsertest.Eval[string](p, `document.querySelector('#notices').textContent`)
	if want := `Room "tiny" is full`; !contains(text, want) {
		t.Errorf("notices = %q, want it to contain %q", text, want)
	}
}

// TestREADMEScreenshot saves a screenshot of a real three-page call to the
// path in $VIDEOCHAT_SCREENSHOT (e.g. docs/screenshot.png); it skips when
// the variable is unset.
func TestREADMEScreenshot(t *testing.T) {
	path := os.Getenv("VIDEOCHAT_SCREENSHOT")
	if path == "" {
		t.Skip("set VIDEOCHAT_SCREENSHOT=path to take the README screenshot")
	}
	s := startServer(t, 0)
	ps := startMesh(t, s, "demo", "Ada", "Grace", "Linus")
	for _, o := range ps[1:] {
		ps[0].WaitFramesDecoded(o.id, minFrames)
		ps[0].WaitNonBlack(remoteVideo(o.id))
	}
	for i, line := range []string{"Hi both!", "Hello Ada!", "Can you see my test pattern?"} {
		p := ps[(i+1)%3]
		p.SetValue("#chat-input", line)
		p.Click(`#chat-form button[type=submit]`)
		ps[0].WaitFor("chat line", fmt.Sprintf(`document.querySelector('#chat-log').textContent.includes(%s)`, strconv.Quote(line)), 10*time.Second)
	}
	if err := ps[0].Screenshot(path, 1280, 800); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot saved to %s", path)
}
