package callbench

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/videochat/videochat/internal/testbin"
)

// binPath is the videochat binary the smoke tests run, built once.
var binPath string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	path, cleanup, err := testbin.Build("callbench-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "callbench:", err)
		return 1
	}
	defer cleanup()
	binPath = path
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "callbench: leaked goroutines:", err)
			return 1
		}
	}
	return code
}
