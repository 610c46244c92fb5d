package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestNoChromedpInVideochat fails if the server binary links the
// Chromium-driving benches again: chromedp and cdproto belong in
// cmd/videochat-bench, not in the binary every server runs.
func TestNoChromedpInVideochat(t *testing.T) {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := exec.LookPath(gobin); err != nil {
		gobin = "go"
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !contains(deps, "github.com/videochat/videochat/signal") {
		t.Fatalf("go list -deps printed %d packages without signal: not a dependency list", len(deps))
	}
	for _, d := range deps {
		if d == "testing" {
			t.Errorf("videochat links the testing package (a test helper reached the binary)")
		}
		for _, bad := range []string{"github.com/chromedp/", "/internal/bench/callbench", "/internal/browsertest"} {
			if strings.Contains(d, bad) {
				t.Errorf("videochat links %s; the Chromium benches belong in cmd/videochat-bench", d)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
