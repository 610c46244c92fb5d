package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
	"github.com/videochat/videochat/peer"
)

// fileSize is the size of the files sent both ways.
const fileSize = 20 << 20

// TestNativeFeatures: a page and a native peer. Mute and camera-off reach
// the other side both ways within a second; both ends show the same safety
// code; the native peer grades the link and reports the page's state in
// --stats-json; a 20 MiB file goes page → native and native → page with
// matching SHA-256; a tampered transfer is detected and deleted; a
// path-traversal name is sanitised; bad state and file messages and a
// 1 TiB offer get their documented refusals and change nothing.
func TestNativeFeatures(t *testing.T) {
	browsertest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	_, url := startServer(ctx, t)
	dir := t.TempDir()
	downloads := filepath.Join(dir, "downloads")
	if err := os.Mkdir(downloads, 0o755); err != nil {
		t.Fatal(err)
	}
	stats := filepath.Join(dir, "stats.jsonl")
	robot := startWithStdin(t, joinArgs(url, "features", "robot", "--video", "test", "--audio", "test",
		"--stats-json", stats, "--downloads", downloads)...)
	say := func(line string) {
		t.Helper()
		if _, err := fmt.Fprintln(robot.stdin, line); err != nil {
			t.Fatal(err)
		}
	}

	pg := browsertest.Launch(t, browsertest.Options{Name: "alice"})
	pg.Navigate(url + "/room/features?name=alice")
	tile := `document.querySelector('video[data-peer-name="robot"]')?.closest('figure')`
	pg.WaitFor("robot's tile", tile, time.Minute)
	robotID := browsertest.Eval[string](pg, tile+`.dataset.peerId`)
	pg.WaitFramesDecoded(robotID, 10)
	s := waitStats(ctx, t, stats, func(s peer.Snapshot) bool {
		return len(s.Peers) == 1 && s.Peers[0].SafetyCode != "" && s.Peers[0].Video.FramesReceived > 30
	})
	alice := s.Peers[0]

	t.Run("state", func(t *testing.T) {
		pg := pg.For(t)
		for _, c := range []struct{ cmd, attr, want string }{
			{"/mute", "mic", "off"}, {"/video off", "camera", "off"}, {"/unmute", "mic", "on"}, {"/video on", "camera", "on"},
		} {
			start := time.Now()
			say(c.cmd)
			pg.WaitFor(fmt.Sprintf("data-%s=%s after %s", c.attr, c.want, c.cmd),
				fmt.Sprintf(`%s.dataset.%s === %s`, tile, c.attr, strconv.Quote(c.want)), 5*time.Second)
			d := time.Since(start)
			t.Logf("robot %s: the page shows it after %v", c.cmd, d.Round(time.Millisecond))
			if d > time.Second {
				t.Errorf("%s took %v to show, want ≤ 1 s", c.cmd, d)
			}
		}
		// After /video on the robot's video flows again.
		n, err := pg.FramesDecoded(robotID)
		if err != nil {
			t.Fatal(err)
		}
		pg.WaitFramesDecoded(robotID, n+30)
		for _, c := range []struct{ button, line string }{
			{"#toggle-audio", `^\[state\] alice: mic off, camera on$`},
			{"#toggle-video", `^\[state\] alice: mic off, camera off$`},
		} {
			start := time.Now()
			pg.Click(c.button)
			robot.waitLine(ctx, regexp.MustCompile(c.line))
			d := time.Since(start)
			t.Logf("alice %s: robot shows it after %v", c.button, d.Round(time.Millisecond))
			if d > time.Second {
				t.Errorf("%s took %v to reach the native peer, want ≤ 1 s", c.button, d)
			}
		}
		s := waitStats(ctx, t, stats, func(s peer.Snapshot) bool {
			return len(s.Peers) == 1 && s.Peers[0].Mic == "off" && s.Peers[0].Camera == "off"
		})
		t.Logf("robot's --stats-json for alice: mic %s camera %s speaking %v quality %s loss %.1f%% rtt %.0f ms",
			s.Peers[0].Mic, s.Peers[0].Camera, s.Peers[0].Speaking, s.Peers[0].Quality, s.Peers[0].LossPct, s.Peers[0].RTTMillis)
		if q := s.Peers[0].Quality; q != peer.QualityGood {
			t.Errorf("quality on loopback is %q, want good", q)
		}
		pg.Click("#toggle-audio")
		pg.Click("#toggle-video")
		waitStats(ctx, t, stats, func(s peer.Snapshot) bool {
			return len(s.Peers) == 1 && s.Peers[0].Mic == "on" && s.Peers[0].Camera == "on"
		})
	})

	t.Run("audio level extension", func(t *testing.T) {
		// Chromium fills a receiver's synchronization-source audioLevel
		// from the RFC 6464 header extension the native peer writes.
		pg.For(t).WaitFor("robot's RFC 6464 audio level", fmt.Sprintf(`(() => {
			const pc = window.videochat.peers().get(%s);
			const r = pc && pc.getReceivers().find((r) => r.track.kind === 'audio');
			const s = r && r.getSynchronizationSources()[0];
			return !!s && typeof s.audioLevel === 'number' && s.audioLevel > 0.01;
		})()`, strconv.Quote(robotID)), 30*time.Second)
		waitTileAttr := fmt.Sprintf(`%s.dataset.speaking === 'true'`, tile)
		pg.For(t).WaitFor("robot highlighted as speaking", waitTileAttr, 30*time.Second)
	})

	t.Run("safety code", func(t *testing.T) {
		code := browsertest.Eval[string](pg.For(t), tile+`.dataset.safetyCode`)
		if code == "" || code != alice.SafetyCode {
			t.Errorf("page shows %q, native shows %q", code, alice.SafetyCode)
		}
		say("/verify")
		robot.waitLine(ctx, regexp.MustCompile(`^  alice: `+regexp.QuoteMeta(alice.SafetyCode)+`$`))
	})

	t.Run("bad input", func(t *testing.T) {
		pg := pg.For(t)
		bad := []struct{ text, code string }{
			{`{"type":"state","mic":"off","camera":7}`, "bad-state"},
			{`{"type":"state","mic":"off"`, "bad-message"},
			{fmt.Sprintf(`{"type":"state","mic":"off","camera":"off","x":"%0*d"}`, 20000, 0), "too-long"},
			{`{"type":"file-offer","id":"big","name":"huge.bin","size":1099511627776,"sha256":"` + fmt.Sprintf("%064x", 0) + `"}`, "too-large"},
			{`{"type":"file-offer","id":"neg","name":"x","size":-5,"sha256":"00"}`, "bad-file-offer"},
		}
		for _, b := range bad {
			browsertest.Eval[bool](pg, fmt.Sprintf(`window.videochat.sendRaw(%s, %s)`, strconv.Quote(robotID), strconv.Quote(b.text)))
		}
		pg.WaitFor("every refusal", fmt.Sprintf(`window.videochat.refusals().length >= %d`, len(bad)), 10*time.Second)
		got := browsertest.Eval[[]struct{ Code, Ref string }](pg, `window.videochat.refusals()`)
		for i, b := range bad {
			if got[i].Code != b.code {
				t.Errorf("refusal %d: %q, want %q (%.60s)", i, got[i].Code, b.code, b.text)
			}
		}
		s, err := peer.LastSnapshot(stats)
		if err != nil || len(s.Peers) != 1 || s.Peers[0].Mic != "on" || s.Peers[0].Camera != "on" {
			t.Errorf("bad input changed what robot shows for alice: %+v (%v)", s.Peers, err)
		}
		if ents, _ := os.ReadDir(downloads); len(ents) != 0 {
			t.Errorf("refused offers left files: %v", ents)
		}
	})

	// makeFile fills a 20 MiB file in the page and returns its transfer id
	// after sending it as name (corruptAt < 0: intact).
	sendFromPage := func(t *testing.T, name string, corruptAt int) string {
		js := fmt.Sprintf(`(async () => {
			const buf = new Uint8Array(%d);
			for (let off = 0; off < buf.length; off += 65536) crypto.getRandomValues(buf.subarray(off, off + 65536));
			const opts = %d >= 0 ? {corruptAt: %d} : {};
			const ids = await window.videochat.sendFile(new Blob([buf]), %s, %s, opts);
			return ids[0];
		})()`, fileSize, corruptAt, corruptAt, strconv.Quote(name), strconv.Quote(robotID))
		return browsertest.Eval[string](pg.For(t), js)
	}
	transfer := func(id string) string {
		return fmt.Sprintf(`window.videochat.files().find((f) => f.id === %s)`, strconv.Quote(id))
	}

	t.Run("page to native", func(t *testing.T) {
		start := time.Now()
		id := sendFromPage(t, "../../x", -1)
		// The receiving side reports progress on the way.
		robot.waitLine(ctx, regexp.MustCompile(`^\[file\] x \(20971520 bytes\) from alice: receiving [1-9][0-9]?%$`))
		pg.For(t).WaitFor("delivered", transfer(id)+`?.state === 'done'`, 2*time.Minute)
		t.Logf("20 MiB page → native in %v", time.Since(start).Round(time.Millisecond))
		want := browsertest.Eval[string](pg.For(t), transfer(id)+`.sha256`)
		path := filepath.Join(downloads, "x")
		if got := fileHash(t, path); got != want {
			t.Errorf("received file hash %s, sender announced %s", got, want)
		}
		if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
			t.Errorf("../../x was written outside --downloads")
		}
		// The same name again: a new name, never an overwrite.
		id2 := sendFromPage(t, "x", -1)
		pg.For(t).WaitFor("second delivered", transfer(id2)+`?.state === 'done'`, 2*time.Minute)
		if _, err := os.Stat(filepath.Join(downloads, "x (1)")); err != nil {
			t.Errorf("second x not saved as \"x (1)\": %v", err)
		}
	})

	t.Run("tampered", func(t *testing.T) {
		id := sendFromPage(t, "tampered.bin", 12345)
		pg.For(t).WaitFor("failed", transfer(id)+`?.state === 'failed'`, 2*time.Minute)
		if code := browsertest.Eval[string](pg.For(t), transfer(id)+`.code`); code != "hash-mismatch" {
			t.Errorf("tampered transfer ended with %q, want hash-mismatch", code)
		}
		robot.waitLine(ctx, regexp.MustCompile(`^\[file\] tampered\.bin .*failed \(hash-mismatch\)`))
		ents, _ := os.ReadDir(downloads)
		for _, e := range ents {
			if e.Name() != "x" && e.Name() != "x (1)" {
				t.Errorf("left behind after a failed transfer: %s", e.Name())
			}
		}
	})

	t.Run("native to page", func(t *testing.T) {
		src := filepath.Join(dir, "from-robot.bin")
		f, err := os.Create(src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(f, rand.Reader, fileSize); err != nil {
			t.Fatal(err)
		}
		f.Close()
		want := fileHash(t, src)
		browsertest.Eval[bool](pg.For(t), `(window.videochat.acceptFiles(true), true)`)
		start := time.Now()
		say("/send " + src)
		robot.waitLine(ctx, regexp.MustCompile(`^\[file\] from-robot\.bin .* to alice: sending [1-9][0-9]?%$`))
		robot.waitLine(ctx, regexp.MustCompile(`^\[file\] from-robot\.bin .* to alice: done`))
		t.Logf("20 MiB native → page in %v", time.Since(start).Round(time.Millisecond))
		got := browsertest.Eval[string](pg.For(t), `window.videochat.fileDigest(
			window.videochat.files().find((f) => f.name === 'from-robot.bin' && f.state === 'done').id)`)
		if got != want {
			t.Errorf("page received SHA-256 %s, file has %s", got, want)
		}
	})
}

func fileHash(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestNativeSpeaking: two native peers, one sending a tone, one silent.
// Each reads the other's RFC 6464 levels: the silent one reports the tone
// peer speaking, the tone peer reports the silent one not speaking.
func TestNativeSpeaking(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, url := startServer(ctx, t)
	dir := t.TempDir()
	toneStats, quietStats := filepath.Join(dir, "tone.jsonl"), filepath.Join(dir, "quiet.jsonl")
	start(t, joinArgs(url, "speak", "tone", "--video", "none", "--audio", "test", "--stats-json", toneStats)...)
	start(t, joinArgs(url, "speak", "quiet", "--video", "none", "--audio", "none", "--stats-json", quietStats)...)
	waitStats(ctx, t, quietStats, func(s peer.Snapshot) bool { return len(s.Peers) == 1 && s.Peers[0].Speaking })
	s := waitStats(ctx, t, toneStats, func(s peer.Snapshot) bool { return len(s.Peers) == 1 && s.Peers[0].SafetyCode != "" })
	if s.Peers[0].Speaking {
		t.Errorf("the silent peer is reported speaking: %+v", s.Peers[0])
	}
	q, err := peer.LastSnapshot(quietStats)
	if err != nil || len(q.Peers) != 1 || q.Peers[0].SafetyCode != s.Peers[0].SafetyCode {
		t.Errorf("native↔native safety codes differ: %+v vs %+v (%v)", q.Peers, s.Peers, err)
	}
}
