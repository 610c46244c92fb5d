// Package e2e runs the real videochat binary: servers, native peers and
// headless Chromium pages talking over loopback.
package e2e

import (
	"os"
	"testing"

	"github.com/videochat/videochat/internal/testbin"
)

// binPath is the videochat binary built once for the package's tests.
var binPath string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if path := os.Getenv(netnsBinEnv); path != "" { // a test re-run inside a network namespace
		binPath = path
		return m.Run()
	}
	return testbin.Run(m, "videochat-e2e-", &binPath)
}
