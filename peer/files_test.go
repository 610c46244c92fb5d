package peer_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/videochat/videochat/peer"
)

// TestNativeFiles: two native peers. A file goes from alice to bob's
// downloads with its SHA-256 verified, a second one of the same name does
// not overwrite the first, muting is announced, and a file over bob's
// announced limit is refused by alice before it is offered. Meant for
// -race: transfers run on pion's callbacks and the peers' goroutines.
func TestNativeFiles(t *testing.T) {
	server := startServer(t)
	downloads := t.TempDir()
	alice := startPeer(t, server, "files", "alice", peerOpts{tracks: newSynthSource(t, "alice").Tracks()})
	bob := startPeer(t, server, "files", "bob", peerOpts{tracks: newSynthSource(t, "bob").Tracks(),
		files: peer.FileConfig{Dir: downloads, MaxSize: 1 << 20}})
	bobID := waitWelcome(t, bob)
	aliceID := waitWelcome(t, alice)
	waitFor(t, "connected with safety codes", func() error {
		a, _ := peerStats(alice, bobID)
		b, _ := peerStats(bob, aliceID)
		if a.SafetyCode == "" || a.SafetyCode != b.SafetyCode {
			return fmt.Errorf("codes %q / %q", a.SafetyCode, b.SafetyCode)
		}
		return nil
	})

	src := filepath.Join(t.TempDir(), "data.bin")
	data := make([]byte, 300<<10)
	_, _ = rand.Read(data)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"data.bin", "data (1).bin"} {
		ids, err := alice.SendFile(src, bobID)
		if err != nil || len(ids) != 1 {
			t.Fatalf("send %d: %v %v", i, ids, err)
		}
		waitFor(t, "delivered", func() error { return fileState(alice, ids[0], "done") })
		got, err := os.ReadFile(filepath.Join(downloads, want))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: %d bytes, equal %v (%v)", want, len(got), bytes.Equal(got, data), err)
		}
	}

	alice.SetMic(false)
	waitFor(t, "mic off at bob", func() error {
		if ps, _ := peerStats(bob, aliceID); ps.Mic != "off" || ps.Camera != "on" {
			return fmt.Errorf("mic %q camera %q", ps.Mic, ps.Camera)
		}
		return nil
	})

	// Muted, nothing is sent; unmuted, audio flows again (gate.go; the
	// renumbering is checked by TestGateRenumbers).
	var muted uint64
	waitFor(t, "audio stops", func() error {
		ps, _ := peerStats(bob, aliceID)
		if ps.Audio.PacketsReceived != muted || muted == 0 {
			muted = ps.Audio.PacketsReceived
			return fmt.Errorf("audio packets still rising: %d", muted)
		}
		return nil
	})
	alice.SetMic(true)
	waitFor(t, "audio again", func() error {
		ps, _ := peerStats(bob, aliceID)
		if ps.Mic != "on" || ps.Audio.PacketsReceived < muted+100 {
			return fmt.Errorf("mic %s, %d audio packets (muted at %d)", ps.Mic, ps.Audio.PacketsReceived, muted)
		}
		return nil
	})

	big := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(big, make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	ids, err := alice.SendFile(big, bobID)
	if err != nil {
		t.Fatal(err)
	}
	if err := fileState(alice, ids[0], "refused"); err != nil {
		t.Error(err)
	}
}

func fileState(r *runner, id, want string) error {
	for _, f := range r.Files() {
		if f.ID == id {
			if f.State != want {
				return fmt.Errorf("transfer %s: %s (%s %s), want %s", id, f.State, f.Code, f.Detail, want)
			}
			return nil
		}
	}
	return fmt.Errorf("no transfer %s", id)
}
