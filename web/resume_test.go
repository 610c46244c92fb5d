package web_test

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/signal"
)

// watchJS records, from now on, every remote tile added to or removed from
// #tiles (window.__tilesAdded / __tilesRemoved, peer ids) and the id of
// every notice shown (window.__notices), with a MutationObserver.
const watchJS = `(() => {
	window.__tilesAdded = []; window.__tilesRemoved = []; window.__notices = [];
	const ids = (nodes) => [...nodes].filter((n) => n.matches && n.matches('figure.remote')).map((n) => n.dataset.peerId);
	new MutationObserver((records) => {
		for (const r of records) {
			window.__tilesAdded.push(...ids(r.addedNodes));
			window.__tilesRemoved.push(...ids(r.removedNodes));
		}
	}).observe(document.getElementById('tiles'), {childList: true});
	new MutationObserver((records) => {
		for (const r of records) for (const n of r.addedNodes) if (n.dataset) window.__notices.push(n.dataset.noticeId || '');
	}).observe(document.getElementById('notices'), {childList: true});
	return true;
})()`

// watch starts recording tile and notice changes on each page.
func watch(ps ...*participant) {
	for _, p := range ps {
		browsertest.Eval[bool](p.Page, watchJS)
	}
}

// tileState is what a page shows and keeps about its remote peers.
type tileState struct {
	ID      string
	Tiles   []string // data-peer-id of each remote tile, in DOM order
	Added   []string
	Removed []string
	Notices []string
	Absent  []string
	PCs     []string
	Reconn  int
}

// readTiles reads p's tileState.
func readTiles(p *participant) tileState {
	return browsertest.Eval[tileState](p.Page, `({
		ID: window.videochat.id,
		Tiles: [...document.querySelectorAll('#tiles figure.remote')].map((f) => f.dataset.peerId),
		Added: window.__tilesAdded, Removed: window.__tilesRemoved, Notices: window.__notices,
		Absent: window.videochat.absent(), PCs: [...window.videochat.peers().keys()],
		Reconn: window.videochat.reconnects(),
	})`)
}

// checkIntact fails unless p kept its id and has exactly one tile and one
// connection, to other, with no tile removed or added since watch.
func checkIntact(t *testing.T, p, other *participant) tileState {
	t.Helper()
	s := readTiles(p)
	if s.ID != p.id {
		t.Errorf("%s: id %s → %s", p.name, p.id, s.ID)
	}
	want := []string{other.id}
	if !slices.Equal(s.Tiles, want) || !slices.Equal(s.PCs, want) {
		t.Errorf("%s: tiles %v, connections %v; want exactly %v", p.name, s.Tiles, s.PCs, want)
	}
	if len(s.Removed) > 0 || len(s.Added) > 0 {
		t.Errorf("%s: tiles removed %v, added %v during the outage; want none", p.name, s.Removed, s.Added)
	}
	if len(s.Absent) > 0 {
		t.Errorf("%s: still waiting for %v after the resume", p.name, s.Absent)
	}
	return s
}

// checkSignalling proves that signalling works between a and b: an ICE
// restart a starts is negotiated (b sees a new remote ufrag).
func checkSignalling(t *testing.T, a, b *participant) {
	t.Helper()
	before := browsertest.Eval[string](b.Page, remoteUfragJS(a.id))
	if !browsertest.Eval[bool](a.Page, fmt.Sprintf(`window.videochat.restartIce(%s)`, strconv.Quote(b.id))) {
		t.Fatalf("%s: restartIce found no connection to %s", a.name, b.name)
	}
	d := b.WaitFor("new remote ufrag after an ICE restart over the resumed signalling",
		fmt.Sprintf(`(%s) !== %s && (%[1]s) !== ''`, remoteUfragJS(a.id), strconv.Quote(before)), 0)
	t.Logf("ICE restart %s → %s negotiated over the resumed signalling in %v", a.name, b.name, d.Round(time.Millisecond))
}

// TestResumeAfterSignallingDrop cuts one page's signalling connection in the
// network (a TCP proxy, so no close frame): the page reconnects, resumes
// with its id, the other page notices nothing, and video keeps flowing.
func TestResumeAfterSignallingDrop(t *testing.T) {
	s := startServer(t, 0)
	px := startCutProxy(t, s.Addr)
	a := joinURL(t, "alice", fmt.Sprintf("%s/room/drop?name=alice", px.URL))
	b := join(t, s, "drop", "bob")
	a.WaitFramesDecoded(b.id, minFrames)
	b.WaitFramesDecoded(a.id, minFrames)
	watch(a, b)
	framesA, _ := a.FramesDecoded(b.id)
	framesB, _ := b.FramesDecoded(a.id)

	n := px.Cut()
	if n == 0 {
		t.Fatal("the proxy carried no connection to cut")
	}
	cut := time.Now()
	d := a.WaitFor("resumed", `window.videochat.reconnects() >= 1 && window.videochat.state === 'joined'`, 0)
	t.Logf("cut %d sockets; alice resumed %v later", n, d.Round(time.Millisecond))

	sa := checkIntact(t, a, b)
	checkIntact(t, b, a)
	if !slices.Contains(sa.Notices, "reconnect") {
		t.Errorf("alice never showed the reconnecting banner; notices %v", sa.Notices)
	}
	if sa.Reconn != 1 {
		t.Errorf("alice reconnects() = %d, want 1", sa.Reconn)
	}
	if browsertest.Eval[bool](a.Page, `!!document.querySelector('[data-notice-id="reconnect"]')`) {
		t.Error("the reconnecting banner is still shown after the resume")
	}
	a.WaitFramesDecoded(b.id, framesA+minFrames)
	b.WaitFramesDecoded(a.id, framesB+minFrames)
	t.Logf("video kept flowing both ways (%v after the cut)", time.Since(cut).Round(time.Millisecond))
	checkSignalling(t, a, b)
	checkIntact(t, b, a)
}

// outage is how long TestServerRestartKeepsCall keeps the server down.
const outage = 5 * time.Second

// TestServerRestartKeepsCall stops the signalling server in the middle of a
// call: video keeps flowing for the whole outage, and when a new server
// with the same resume secret comes up on the same port both pages resume
// with their ids, without duplicate or replaced tiles.
func TestServerRestartKeepsCall(t *testing.T) {
	cfg := signal.Config{ResumeSecret: []byte(rand.Text())}
	s := startServerConfig(t, cfg)
	a := join(t, s, "restart", "alice")
	b := join(t, s, "restart", "bob")
	a.WaitFramesDecoded(b.id, minFrames)
	b.WaitFramesDecoded(a.id, minFrames)
	watch(a, b)

	s.stop(t)
	down := time.Now()
	for _, p := range []*participant{a, b} {
		p.WaitFor("reconnecting", `window.videochat.state === 'reconnecting'`, 10*time.Second)
	}
	checkFramesRise(t, outage, [2]*participant{a, b}, [2]*participant{b, a})
	for _, p := range []*participant{a, b} {
		if st := browsertest.Eval[string](p.Page, `window.videochat.state`); st != "reconnecting" {
			t.Fatalf("%s: state %q while the server is down", p.name, st)
		}
	}

	s2 := startServerAt(t, s.Addr, cfg)
	up := time.Now()
	t.Logf("server down for %v; back on %s", up.Sub(down).Round(time.Millisecond), s2.Addr)
	for _, p := range []*participant{a, b} {
		p.WaitFor("resumed", `window.videochat.state === 'joined' && window.videochat.reconnects() >= 1 &&
			window.videochat.absent().length === 0`, 0)
		t.Logf("%s resumed (and its peer is back) by %v after the restart", p.name, time.Since(up).Round(time.Millisecond))
	}
	for _, pp := range [][2]*participant{{a, b}, {b, a}} {
		s := checkIntact(t, pp[0], pp[1])
		if !slices.Contains(s.Notices, "reconnect") {
			t.Errorf("%s: no reconnecting banner was shown (notices %v)", pp[0].name, s.Notices)
		}
	}
	checkSignalling(t, a, b)
	checkFramesFlow(t, a, b)
	checkIntact(t, a, b)
	checkIntact(t, b, a)
}

// maxStall is the longest checkFramesRise lets a viewer's decoded-frame
// count stand still: the media path does not use the server, so a longer
// stall is a broken call, while a shorter one can be a loaded machine
// (Chromium counts a freeze from 3 frame intervals, this allows far more).
const maxStall = 2500 * time.Millisecond

// checkFramesRise samples, every 250 ms for d, the video frames each viewer
// decodes from its sender and fails if a count stands still for longer than
// maxStall.
func checkFramesRise(t *testing.T, d time.Duration, pairs ...[2]*participant) {
	t.Helper()
	last := make([]int, len(pairs))
	rose := make([]time.Time, len(pairs))
	for i, pp := range pairs {
		n, err := pp[0].FramesDecoded(pp[1].id)
		if err != nil || n < 0 {
			t.Fatalf("%s: frames from %s: %d, %v", pp[0].name, pp[1].name, n, err)
		}
		last[i], rose[i] = n, time.Now()
	}
	first := slices.Clone(last)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(d); time.Now().Before(end); {
		<-tick.C
		for i, pp := range pairs {
			n, err := pp[0].FramesDecoded(pp[1].id)
			if err != nil {
				t.Fatal(err)
			}
			if n > last[i] {
				last[i], rose[i] = n, time.Now()
			} else if stall := time.Since(rose[i]); stall > maxStall {
				t.Fatalf("%s: frames decoded from %s stuck at %d for %v", pp[0].name, pp[1].name, n, stall.Round(time.Millisecond))
			}
		}
	}
	for i, pp := range pairs {
		t.Logf("%s decoded %d frames from %s in %v without signalling", pp[0].name, last[i]-first[i], pp[1].name, d)
	}
}

// TestServerShutdownReconnects tells a joined page that the server went
// away and that it is reconnecting; it does not end the call.
func TestServerShutdownReconnects(t *testing.T) {
	s := startServer(t, 0)
	p := join(t, s, "bye", "stayer")
	shutdownServer(t, s)
	p.WaitFor("reconnecting state", `window.videochat.state === 'reconnecting'`, 0)
	text := browsertest.Eval[string](p.Page, `document.querySelector('[data-notice-id="reconnect"]').textContent`)
	for _, want := range []string{"server shut down", "Reconnecting"} {
		if !contains(text, want) {
			t.Errorf("reconnect banner = %q, want it to contain %q", text, want)
		}
	}
	if id := browsertest.Eval[string](p.Page, `window.videochat.id`); id != p.id {
		t.Errorf("id %q → %q while reconnecting", p.id, id)
	}
}

// TestReconnectWithoutResume cuts a page's signalling on a server that does
// not resume: the page comes back with a new id, drops its old connections
// and tiles, and the call is set up again with exactly one tile each.
func TestReconnectWithoutResume(t *testing.T) {
	s := startServerConfig(t, signal.Config{DisableResume: true})
	px := startCutProxy(t, s.Addr)
	a := joinURL(t, "alice", fmt.Sprintf("%s/room/noresume?name=alice", px.URL))
	b := join(t, s, "noresume", "bob")
	a.WaitFramesDecoded(b.id, minFrames)
	old := a.id

	px.Cut()
	d := a.WaitFor("rejoined", fmt.Sprintf(`window.videochat.state === 'joined' && window.videochat.id !== %s`, strconv.Quote(old)), 0)
	a.id = browsertest.Eval[string](a.Page, `window.videochat.id`)
	t.Logf("alice rejoined as %s (was %s) after %v", a.id, old, d.Round(time.Millisecond))
	only := func(id string) string {
		return fmt.Sprintf(`(() => {
			const tiles = [...document.querySelectorAll('#tiles figure.remote')].map((f) => f.dataset.peerId);
			const pcs = [...window.videochat.peers().keys()];
			return tiles.length === 1 && tiles[0] === %[1]s && pcs.length === 1 && pcs[0] === %[1]s;
		})()`, strconv.Quote(id))
	}
	b.WaitFor("only alice's new tile", only(a.id), 0)
	a.WaitFor("only bob's tile", only(b.id), 0)
	a.WaitFramesDecoded(b.id, minFrames)
	b.WaitFramesDecoded(a.id, minFrames)
	if !browsertest.Eval[bool](a.Page, `!!document.querySelector('[data-notice-id="reconnected"]')`) {
		t.Error("alice was not told that the call was set up again")
	}
}
