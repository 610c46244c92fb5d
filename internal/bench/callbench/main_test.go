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
	code := testbin.Run(m, "callbench-test-", &binPath)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "callbench: leaked goroutines:", err)
			code = 1
		}
	}
	os.Exit(code)
}
