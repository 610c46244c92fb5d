package playback

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoSpeaker: with no sound server and no card, the default output
// gives one warning line and a player that still decodes (on its clock).
func TestNoSpeaker(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PULSE_SERVER", "unix:"+filepath.Join(dir, "nothing-here"))
	t.Setenv("XDG_RUNTIME_DIR", dir)
	// and no ALSA device either, even on a machine with a sound card
	empty := filepath.Join(dir, "asound.conf")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALSA_CONFIG_PATH", empty)
	var logs bytes.Buffer
	p, err := New(Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	t.Logf("output %q, log:\n%s", p.Output(), logs.String())
	if p.Output() != "" {
		t.Errorf("plays to %q without a sound server", p.Output())
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || strings.Count(logs.String(), "\n") != 1 {
		t.Errorf("want exactly one warning line, got:\n%s", logs.String())
	}
	waitPulling(t, p.Mixer) // the clock output keeps decoding, levels and sync alive
	if _, err := New(Config{Speaker: "spk"}); err == nil {
		t.Errorf("an explicit speaker without a sound server: %v", err)
	}
}
