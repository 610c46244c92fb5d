// Package testbin builds the videochat binary for tests that run it as a
// process (e2e, the call benchmarks' smoke tests).
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// mainPkg is the import path of the videochat command.
const mainPkg = "github.com/videochat/videochat/cmd/videochat"

// Build compiles videochat into a new temporary directory named after
// prefix, with the compiler's output on stderr. It returns the binary's
// path and a function that removes the directory.
func Build(prefix string) (path string, cleanup func(), err error) {
	return BuildTags(prefix, "")
}

// BuildTags is Build with build tags (go build -tags tags), e.g.
// "fakecam" for a binary with the test cameras of internal/fakecam.
func BuildTags(prefix, tags string) (path string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	path = filepath.Join(dir, "videochat")
	build := exec.Command("go", "build", "-tags", tags, "-o", path, mainPkg)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("build videochat: %w", err)
	}
	return path, cleanup, nil
}

// Run is the body of a TestMain whose tests run videochat: it builds the
// binary (Build with prefix), stores its path in *bin, runs the tests and
// removes the binary. It returns the exit code for os.Exit; a failed build
// is code 1, reported on stderr.
func Run(m *testing.M, prefix string, bin *string) int {
	path, cleanup, err := Build(prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testbin:", err)
		return 1
	}
	defer cleanup()
	*bin = path
	return m.Run()
}

// ForTest is BuildTags for one test: the binary is removed when tb ends,
// and a failed build fails tb.
func ForTest(tb testing.TB, prefix, tags string) string {
	tb.Helper()
	path, cleanup, err := BuildTags(prefix, tags)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cleanup)
	return path
}
