package e2e

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestNativeProbePair: two native peers with test sources each see the
// other's video and audio, so both probes pass.
func TestNativeProbePair(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	_, url := startServer(ctx, t)
	media := []string{"--video", "test", "--audio", "test", "--expect", "1", "--duration", "8s"}
	a := start(t, joinArgs(url, "pair", "alice", media...)...)
	b := start(t, joinArgs(url, "pair", "bob", media...)...)
	for name, p := range map[string]*proc{"alice": a, "bob": b} {
		if code := p.wait(ctx); code != 0 {
			t.Errorf("%s: exit %d, want 0\n%s", name, code, p.output())
		}
	}
}

// TestNativeProbeAlone: a probe alone in its room fails with exit 3 and a
// line that says what was missing.
func TestNativeProbeAlone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, url := startServer(ctx, t)
	p := start(t, joinArgs(url, "alone", "solo", "--video", "test", "--audio", "test", "--expect", "1", "--duration", "3s")...)
	if code := p.wait(ctx); code != 3 {
		t.Fatalf("exit %d, want 3\n%s", code, p.output())
	}
	if out := p.output(); !strings.Contains(out, "expectation not met") {
		t.Fatalf("no reason line in output:\n%s", out)
	}
}

// TestNoCamera: on a machine without a camera, --video camera exits 2 with
// the hint and no panic. (CI machines have no camera.)
func TestNoCamera(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, url := startServer(ctx, t)
	for _, tc := range []struct {
		args []string
		hint string
	}{
		{[]string{"--video", "camera", "--audio", "none"}, "--video test"},
		{[]string{"--video", "none", "--audio", "mic"}, "--audio test"},
	} {
		p := start(t, joinArgs(url, "nocam", "cam", tc.args...)...)
		code := p.wait(ctx)
		out := p.output()
		if code != 2 || !strings.Contains(out, tc.hint) || !strings.Contains(out, "videochat devices") {
			t.Errorf("%v: exit %d, want 2 with hint %q:\n%s", tc.args, code, tc.hint, out)
		}
		if strings.Contains(out, "panic") || strings.Count(strings.TrimSpace(out), "\n") > 0 {
			t.Errorf("%v: want one clear line, got:\n%s", tc.args, out)
		}
	}
}
