// Package cli holds what the module's commands (videochat, videochat-bench)
// share: main itself (Main), errors that carry their exit code up to main,
// and the logging flags. It is used only by package main of cmd/...
//
// Invariant: an error without a code that reaches main is a usage error
// (cobra's own errors are flag and argument errors), so ExitCode returns
// ExitUsage for it.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// ExitUsage is the exit code of bad flags and arguments, in every command.
const ExitUsage = 2

// CodedError carries a chosen exit code up to main.
type CodedError struct {
	Code int
	Err  error
}

func (e *CodedError) Error() string { return e.Err.Error() }
func (e *CodedError) Unwrap() error { return e.Err }

// WithCode wraps err with an exit code; nil stays nil.
func WithCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &CodedError{Code: code, Err: err}
}

// Exit turns the error a command returned into its exit code: 0 for nil;
// otherwise it prints "name: err" to w and returns the error's code, or
// ExitUsage when it has none.
func Exit(w io.Writer, name string, err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(w, "%s: %v\n", name, err)
	var ce *CodedError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return ExitUsage
}

// LogFlags are the logging flags every command shares (--log-level,
// --log-format).
type LogFlags struct {
	Level  string // debug, info, warn or error
	Format string // text (or "") or json
}

// Logger returns a logger writing to w as the flags say; a bad value is a
// usage error.
func (f *LogFlags) Logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.Level)); err != nil {
		return nil, WithCode(ExitUsage, fmt.Errorf("--log-level %q: want debug, info, warn or error", f.Level))
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(f.Format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, WithCode(ExitUsage, fmt.Errorf("--log-format %q: want text or json", f.Format))
	}
}

// Main runs root with the process's arguments, its context cancelled by
// SIGINT or SIGTERM, and exits with the code Exit gives its error (printed
// to stderr as "name: err"). It is the whole of each command's main.
func Main(name string, root *cobra.Command) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root.SetArgs(os.Args[1:])
	code := Exit(os.Stderr, name, root.ExecuteContext(ctx))
	stop()
	os.Exit(code)
}
