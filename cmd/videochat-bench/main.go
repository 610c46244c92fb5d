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
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes, as videochat's.
const (
	exitOK    = 0
	exitError = 1 // the benchmark failed
	exitUsage = 2 // bad flags
)

type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: code, err: err}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
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
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(os.Stderr, "videochat-bench:", err)
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	return exitUsage
}

// videochatBinary resolves the --videochat flag: the given path, else
// videochat in this executable's directory, else videochat in PATH.
func videochatBinary(flag string) (string, error) {
	if flag != "" {
		if _, err := os.Stat(flag); err != nil {
			return "", withCode(exitUsage, fmt.Errorf("--videochat: %w", err))
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
		return "", withCode(exitUsage, errors.New("no videochat binary beside videochat-bench or in PATH: build it (make build) or pass --videochat"))
	}
	return p, nil
}

// logFlags are the logging flags of both benchmarks.
type logFlags struct {
	level  string
	format string
}

func (f *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.level)); err != nil {
		return nil, withCode(exitUsage, fmt.Errorf("--log-level %q: want debug, info, warn or error", f.level))
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(f.format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, withCode(exitUsage, fmt.Errorf("--log-format %q: want text or json", f.format))
	}
}
