// Command videochat-bench holds the benchmarks that drive whole calls:
// `videochat-bench call` (native peers against headless Chromium),
// `videochat-bench mesh` (one native sender, several receivers) and
// `videochat-bench net` (native against Chromium sender over impaired
// networks). They start `videochat serve` and `videochat join` as child
// processes.
//
// They live in their own binary so that the server every operator runs does
// not link chromedp and cdproto (TestNoChromedpInVideochat in
// cmd/videochat checks it). `videochat bench signal` stays in videochat: it
// drives only WebSockets.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/videochat/videochat/internal/cli"
)

// Exit codes, as videochat's.
const (
	exitError = 1             // the benchmark failed
	exitUsage = cli.ExitUsage // bad flags
)

func main() { cli.Main("videochat-bench", newRootCmd()) }

func newRootCmd() *cobra.Command {
	var bin string
	root := &cobra.Command{
		Use:           "videochat-bench",
		Short:         "Loopback benchmarks of whole calls (videochat serve and join as children)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&bin, "videochat", "",
		"the videochat binary to measure (default: videochat beside this executable, else in PATH)")
	root.AddCommand(benchCallCmds(&bin)...)
	root.AddCommand(newBenchNetCmd(&bin))
	return root
}

// videochatBinary resolves the --videochat flag: the given path, else
// videochat in this executable's directory, else videochat in PATH.
func videochatBinary(flag string) (string, error) {
	if flag != "" {
		if _, err := os.Stat(flag); err != nil {
			return "", cli.WithCode(exitUsage, fmt.Errorf("--videochat: %w", err))
		}
		return flag, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "videochat")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath("videochat")
	if err != nil {
		return "", cli.WithCode(exitUsage, errors.New("no videochat binary beside videochat-bench or in PATH: build it (make build) or pass --videochat"))
	}
	return p, nil
}

// logFlags are the logging flags of both benchmarks.
type logFlags = cli.LogFlags
