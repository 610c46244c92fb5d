package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNoguiBuild: the headless build (-tags nogui, as the Dockerfile
// builds it) links no SDL, refuses --view window with a usage error, and
// still takes part in a call: its probe passes against a regular peer.
func TestNoguiBuild(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "videochat-nogui")
	build := exec.CommandContext(ctx, "go", "build", "-tags", "nogui", "-o", bin, "github.com/videochat/videochat/cmd/videochat")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags nogui: %v\n%s", err, out)
	}
	if out, err := exec.Command("ldd", bin).CombinedOutput(); err != nil {
		t.Fatalf("ldd: %v\n%s", err, out)
	} else if strings.Contains(string(out), "SDL") {
		t.Fatalf("the nogui build links SDL:\n%s", out)
	}
	cmd := exec.CommandContext(ctx, bin, "join", "--room", "x", "--name", "y", "--view", "window")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "nogui") {
		t.Fatalf("--view window in a nogui build: %v\n%s", err, out)
	}

	_, url := startServer(ctx, t)
	media := []string{"--video", "test", "--audio", "test", "--expect", "1", "--duration", "8s", "--view", "none"}
	a := start(t, joinArgs(url, "nogui", "alice", media...)...)
	saved := binPath // start runs binPath: this one peer runs the nogui build
	binPath = bin
	b := start(t, joinArgs(url, "nogui", "bob", media...)...)
	binPath = saved
	for name, p := range map[string]*proc{"alice": a, "bob (nogui)": b} {
		if code := p.wait(ctx); code != 0 {
			t.Errorf("%s: exit %d, want 0\n%s", name, code, p.output())
		}
	}
}
