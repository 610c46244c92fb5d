package chromium_test

import (
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/videochat/videochat/internal/browsertest/chromium"
)

func TestPathFromEnvironment(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh in PATH")
	}
	t.Setenv("CHROMIUM", "sh")
	if got := chromium.Path(); got != sh {
		t.Errorf("CHROMIUM=sh: Path() = %q, want %q", got, sh)
	}
	t.Setenv("CHROMIUM", "/nonexistent/chromium")
	if got := chromium.Path(); got != "" {
		t.Errorf("CHROMIUM pointing nowhere: Path() = %q, want \"\"", got)
	}
}

func TestFlagsAppendsExtra(t *testing.T) {
	base := chromium.Flags(t.TempDir(), 640, 480, nil)
	extra := chromium.Flags(t.TempDir(), 640, 480, map[string]any{"a": "b", "disable-gpu": false})
	if len(base) == 0 || len(extra) != len(base)+2 {
		t.Fatalf("%d default options, %d with two extra flags", len(base), len(extra))
	}
}

// TestOutput writes from several goroutines (run with -race) and checks
// String and Tail.
func TestOutput(t *testing.T) {
	var o chromium.Output
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = o.Write([]byte("ab"))
			}
		})
	}
	wg.Wait()
	if got := o.String(); len(got) != 1600 || strings.Trim(got, "ab") != "" {
		t.Fatalf("String() has %d bytes, want 1600 of a and b", len(got))
	}
	if got := o.Tail(3); got != "bab" {
		t.Errorf("Tail(3) = %q, want %q", got, "bab")
	}
	if got := o.Tail(5000); len(got) != 1600 {
		t.Errorf("Tail(5000) has %d bytes, want all 1600", len(got))
	}
}
