package chromium

import (
	"context"
	"errors"
	"io/fs"
	"os/exec"
	"testing"
	"time"
)

// A missing binary is an error at once, not a wait for a browser that
// never started.
func TestLaunchMissingBinary(t *testing.T) {
	done := make(chan error, 1)
	go func() {
		b, err := Launch(context.Background(), LaunchConfig{Exe: "/nonexistent/chromium"})
		if b != nil {
			b.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, exec.ErrNotFound) && !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Launch with a missing binary: %v, want a not-found error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Launch with a missing binary did not return within 30 s")
	}
}
