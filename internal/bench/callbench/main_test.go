package callbench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// binPath is the videochat binary the smoke tests run, built once.
var binPath string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "callbench-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "callbench:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "videochat")
	build := exec.Command("go", "build", "-o", binPath, "../../../cmd/videochat")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "callbench: build videochat:", err)
		return 1
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "callbench: leaked goroutines:", err)
			return 1
		}
	}
	return code
}
