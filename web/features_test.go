package web_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
		// The page's rule is the native peer's (peer.Quality, TestQuality).
		got := browsertest.Eval[[]string](alice.For(t), `import('/static/js/monitor.js').then(({qualityOf}) => [
			{rttMs: 10, lossPct: 0, fps: 30, cameraOn: true}, {rttMs: 200, lossPct: 0, fps: 30, cameraOn: true},
			{rttMs: 500, lossPct: 0, fps: 30, cameraOn: true}, {rttMs: 10, lossPct: 2, fps: 30, cameraOn: true},
			{rttMs: 10, lossPct: 6, fps: 30, cameraOn: true}, {rttMs: 10, lossPct: 0, fps: 10, cameraOn: true},
			{rttMs: 10, lossPct: 0, fps: 2, cameraOn: true}, {rttMs: 10, lossPct: 0, fps: 0, cameraOn: false},
			{rttMs: null, lossPct: null, fps: null, cameraOn: true},
		].map(qualityOf))`)
		want := []string{"good", "fair", "poor", "fair", "poor", "fair", "poor", "good", "good"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("qualityOf: %v, want %v", got, want)
		}
	})

	t.Run("full screen", func(t *testing.T) {
		pg := alice.For(t)
		pg.Click(fmt.Sprintf(`figure[data-peer-id=%s] button[data-action=fullscreen]`, strconv.Quote(bob.id)))
		pg.WaitFor("bob's tile full screen", fmt.Sprintf(`document.fullscreenElement === %s`, tileOf(bob.id)), 10*time.Second)
		pg.Click(fmt.Sprintf(`figure[data-peer-id=%s] button[data-action=fullscreen]`, strconv.Quote(bob.id)))
		pg.WaitFor("full screen left", `document.fullscreenElement === null`, 10*time.Second)
		if !browsertest.Eval[bool](pg, `document.pictureInPictureEnabled`) {
			t.Log("this Chromium has no picture in picture: the button is not shown")
			return
		}
		pg.Click(fmt.Sprintf(`figure[data-peer-id=%s] button[data-action=pip]`, strconv.Quote(bob.id)))
		pg.WaitFor("bob's video in picture in picture", fmt.Sprintf(`document.pictureInPictureElement === document.querySelector(%s)`, strconv.Quote(remoteVideo(bob.id))), 10*time.Second)
		pg.Click(fmt.Sprintf(`figure[data-peer-id=%s] button[data-action=pip]`, strconv.Quote(bob.id)))
		pg.WaitFor("picture in picture left", `document.pictureInPictureElement === null`, 10*time.Second)
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

// coverageJS measures the share of .stage covered by the video elements,
// and lists tiles that stick out of the viewport sideways.
const coverageJS = `(() => {
	const st = document.querySelector('.stage').getBoundingClientRect();
	let covered = 0;
	for (const v of document.querySelectorAll('.stage video')) {
		const r = v.getBoundingClientRect();
		const w = Math.max(0, Math.min(r.right, st.right) - Math.max(r.left, st.left));
		const h = Math.max(0, Math.min(r.bottom, st.bottom) - Math.max(r.top, st.top));
		covered += w * h;
	}
	const out = {Share: covered / (st.width * st.height), Stage: [st.width, st.height], Problems: [],
		ScrollWidth: document.documentElement.scrollWidth, InnerWidth: innerWidth};
	for (const f of document.querySelectorAll('#tiles figure.tile')) {
		const r = f.getBoundingClientRect();
		if (r.width < 50 || r.height < 40) out.Problems.push((f.dataset.peerId || 'local') + ': ' + r.width + '×' + r.height);
		if (r.left < 0 || r.right > innerWidth + 0.5) out.Problems.push((f.dataset.peerId || 'local') + ': x ' + r.left + '…' + r.right);
	}
	return out;
})()`

type coverage struct {
	Share                   float64
	Stage                   []float64
	Problems                []string
	ScrollWidth, InnerWidth int
}

// TestStage: four pages in a room, seen from one at 1280×800. The tiles
// use the stage (videos cover ≥ 70 % of it), a pinned tile is the largest,
// at 390×844 every tile is inside the viewport without horizontal scroll;
// the talking page is highlighted and the muted ones are not; safety codes
// match on both ends of each pair and differ between pairs. With
// VIDEOCHAT_SCREENSHOTS=DIR it saves call-1280.png and call-390.png there.
func TestStage(t *testing.T) {
	s := startServer(t, 0)
	viewer := join(t, s, "stage", "viewer")
	talker := join(t, s, "stage", "talker")
	quiet1 := join(t, s, "stage", "quiet one")
	quiet2 := join(t, s, "stage", "quiet two")
	for _, q := range []*participant{quiet1, quiet2} {
		q.Click("#toggle-audio")
	}
	others := []*participant{talker, quiet1, quiet2}
	for _, o := range others {
		viewer.WaitFramesDecoded(o.id, 10)
		viewer.WaitFor("video size known", fmt.Sprintf(`document.querySelector(%s).videoWidth > 0`, strconv.Quote(remoteVideo(o.id))), 0)
	}
	shots := os.Getenv("VIDEOCHAT_SCREENSHOTS")

	t.Run("layout 1280", func(t *testing.T) {
		pg := viewer.For(t)
		pg.WaitFor("laid out", `(() => { const f = document.querySelectorAll('#tiles figure.tile'); return f.length === 4 && [...f].every((x) => x.style.width !== ''); })()`, 0)
		// A frame for the layout to settle after the last video size.
		browsertest.Eval[bool](pg, `new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`)
		c := browsertest.Eval[coverage](pg, coverageJS)
		t.Logf("1280×800, 3 remote peers: videos cover %.0f %% of .stage (%v)", c.Share*100, c.Stage)
		if c.Share < 0.70 {
			t.Errorf("videos cover %.0f %% of .stage, want ≥ 70 %%", c.Share*100)
		}
		for _, p := range c.Problems {
			t.Error(p)
		}
		if shots != "" {
			if err := viewer.SaveScreenshot(filepath.Join(shots, "call-1280.png")); err != nil {
				t.Error(err)
			}
		}
	})

	t.Run("speaker", func(t *testing.T) {
		for _, q := range []*participant{quiet1, quiet2} {
			waitTileAttr(t, viewer, q.id, "mic", "off", 0)
		}
		d := waitTileAttr(t, viewer, talker.id, "speaking", "true", 30*time.Second)
		t.Logf("talker highlighted after %v", d.Round(time.Millisecond))
		// Watch for two seconds: the muted pages never light up.
		browsertest.Eval[bool](viewer.For(t), fmt.Sprintf(`new Promise((resolve) => {
			window.__lit = [];
			const ids = [%s, %s];
			const end = Date.now() + 2000;
			const tick = () => {
				for (const id of ids) if (document.querySelector('figure[data-peer-id="' + id + '"]').dataset.speaking === 'true') window.__lit.push(id);
				if (Date.now() < end) setTimeout(tick, 50); else resolve(true);
			};
			tick();
		})`, strconv.Quote(quiet1.id), strconv.Quote(quiet2.id)))
		if lit := browsertest.Eval[[]string](viewer.For(t), `window.__lit`); len(lit) > 0 {
			t.Errorf("muted peers highlighted as speaking: %v", lit)
		}
		t.Logf("levels seen by the viewer: %s", browsertest.Eval[string](viewer.For(t),
			`JSON.stringify(Object.fromEntries(Object.entries(window.videochat.monitor()).map(([id, m]) => [id, +m.level.toFixed(4)])))`))
	})

	t.Run("safety codes", func(t *testing.T) {
		code := func(p, o *participant) string {
			p.For(t).WaitFor("safety code", tileOf(o.id)+`.dataset.safetyCode !== ''`, 0)
			return tileAttr(p.Page, o.id, "safety-code")
		}
		vt, tv := code(viewer, talker), code(talker, viewer)
		vq, qv := code(viewer, quiet1), code(quiet1, viewer)
		tq, qt := code(talker, quiet1), code(quiet1, talker)
		if vt != tv || vq != qv || tq != qt {
			t.Errorf("ends differ: viewer/talker %q/%q, viewer/quiet %q/%q, talker/quiet %q/%q", vt, tv, vq, qv, tq, qt)
		}
		if vt == vq || vt == tq || vq == tq {
			t.Errorf("pairs share a code: %q %q %q", vt, vq, tq)
		}
	})

	t.Run("pin", func(t *testing.T) {
		pg := viewer.For(t)
		pg.Click(fmt.Sprintf(`figure[data-peer-id=%s] button[data-action=pin]`, strconv.Quote(quiet2.id)))
		pg.WaitFor("pinned layout", `document.getElementById('tiles').dataset.layout === 'pinned'`, 0)
		pg.WaitFor("pinned tile largest", fmt.Sprintf(`(() => {
			const w = (f) => f.getBoundingClientRect().width;
			const pinned = document.querySelector('figure[data-peer-id=%s]');
			return [...document.querySelectorAll('#tiles figure.tile')].every((f) => f === pinned || w(f) * 2 < w(pinned));
		})()`, strconv.Quote(quiet2.id)), 0)
		pg.Click(fmt.Sprintf(`figure[data-peer-id=%s] button[data-action=pin]`, strconv.Quote(quiet2.id)))
		pg.WaitFor("grid again", `document.getElementById('tiles').dataset.layout === 'grid'`, 0)
	})

	t.Run("layout 390", func(t *testing.T) {
		pg := viewer.For(t)
		pg.Do("emulate a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch))
		pg.WaitFor("phone layout", `innerWidth === 390 && (() => { const r = document.querySelector('#tiles figure.tile').getBoundingClientRect(); return r.right <= 390; })()`, 0)
		browsertest.Eval[bool](pg, `new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`)
		c := browsertest.Eval[coverage](pg, coverageJS)
		t.Logf("390×844: scrollWidth %d, tiles: %v", c.ScrollWidth, c.Problems)
		if c.ScrollWidth > c.InnerWidth {
			t.Errorf("horizontal scroll: scrollWidth %d > %d", c.ScrollWidth, c.InnerWidth)
		}
		for _, p := range c.Problems {
			t.Error(p)
		}
		if shots != "" {
			if err := viewer.SaveScreenshot(filepath.Join(shots, "call-390.png")); err != nil {
				t.Error(err)
			}
		}
	})
}

// TestFiles: files between two pages. The receiver is asked and may
// refuse; an accepted file arrives with its SHA-256 verified; a tampered
// transfer is discarded on the receiver and reported on both sides; a
// path in the name is reduced to its last element; the file input
// (#file-input) sends to the peer chosen.
func TestFiles(t *testing.T) {
	s := startServer(t, 0)
	alice := join(t, s, "files", "alice")
	bob := join(t, s, "files", "bob")
	alice.WaitFramesDecoded(bob.id, 1)
	bob.WaitFramesDecoded(alice.id, 1)
	send := func(t *testing.T, name string, size, corruptAt int) string {
		return browsertest.Eval[string](alice.For(t), fmt.Sprintf(`(async () => {
			const buf = new Uint8Array(%d);
			crypto.getRandomValues(buf.subarray(0, Math.min(buf.length, 65536)));
			for (let i = 65536; i < buf.length; i++) buf[i] = i * 7;
			const ids = await window.videochat.sendFile(new Blob([buf]), %s, %s, %d >= 0 ? {corruptAt: %d} : {});
			return ids[0];
		})()`, size, strconv.Quote(name), strconv.Quote(bob.id), corruptAt, corruptAt))
	}
	on := func(p *participant, dir, id string) string {
		return fmt.Sprintf(`window.videochat.files().find((f) => f.dir === %s && f.id === %s)`, strconv.Quote(dir), strconv.Quote(id))
	}

	t.Run("refused", func(t *testing.T) {
		id := send(t, "nope.bin", 1000, -1)
		bob.For(t).WaitFor("the offer shown", fmt.Sprintf(`!!document.querySelector('[data-notice-id="file-%s"] button[data-action=refuse]')`, id), 0)
		bob.For(t).Click(fmt.Sprintf(`[data-notice-id="file-%s"] button[data-action=refuse]`, id))
		alice.For(t).WaitFor("refused on alice's side", on(alice, "out", id)+`?.state === 'refused'`, 0)
		if code := browsertest.Eval[string](alice.For(t), on(alice, "out", id)+`.code`); code != "refused" {
			t.Errorf("refusal code %q", code)
		}
	})

	t.Run("accepted", func(t *testing.T) {
		id := send(t, "../../x", 3<<20, -1)
		bob.For(t).WaitFor("the offer shown", fmt.Sprintf(`!!document.querySelector('[data-notice-id="file-%s"] button')`, id), 0)
		bob.For(t).Click(fmt.Sprintf(`[data-notice-id="file-%s"] button`, id)) // Accept comes first
		bob.For(t).WaitFor("received", on(bob, "in", id)+`?.state === 'done'`, 0)
		alice.For(t).WaitFor("delivered", on(alice, "out", id)+`?.state === 'done'`, 0)
		if name := browsertest.Eval[string](bob.For(t), on(bob, "in", id)+`.name`); name != "x" {
			t.Errorf("received as %q, want x", name)
		}
		got := browsertest.Eval[string](bob.For(t), fmt.Sprintf(`window.videochat.fileDigest(%s)`, strconv.Quote(id)))
		if want := browsertest.Eval[string](alice.For(t), on(alice, "out", id)+`.sha256`); got != want {
			t.Errorf("bob's file hashes to %s, alice announced %s", got, want)
		}
	})

	t.Run("tampered", func(t *testing.T) {
		browsertest.Eval[bool](bob.For(t), `(window.videochat.acceptFiles(true), true)`)
		id := send(t, "t.bin", 1<<20, 777)
		bob.For(t).WaitFor("discarded", on(bob, "in", id)+`?.state === 'failed'`, 0)
		alice.For(t).WaitFor("reported", on(alice, "out", id)+`?.state === 'failed'`, 0)
		for _, p := range []*participant{alice, bob} {
			dir := map[*participant]string{alice: "out", bob: "in"}[p]
			if code := browsertest.Eval[string](p.For(t), on(p, dir, id)+`.code`); code != "hash-mismatch" {
				t.Errorf("%s: code %q, want hash-mismatch", p.name, code)
			}
		}
		if url := browsertest.Eval[string](bob.For(t), on(bob, "in", id)+`.url`); url != "" {
			t.Errorf("a failed file is offered for download: %s", url)
		}
	})

	t.Run("file input", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "picked.txt")
		if err := os.WriteFile(path, []byte("hello from the file picker\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		pg := alice.For(t)
		pg.Do("pick a file", chromedp.SetUploadFiles(chromedp.CSS("#file-input"), []string{path}))
		bob.For(t).WaitFor("picked file received", `window.videochat.files().some((f) => f.name === 'picked.txt' && f.state === 'done')`, 0)
	})
}
