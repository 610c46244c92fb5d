// Command videochat is a self-hosted video-chat system in one binary: a
// WebSocket room signalling server that serves a browser client (serve) and
// a native WebRTC peer that joins rooms from Go (join).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes, documented in README.md.
const (
	exitOK       = 0
	exitError    = 1 // runtime failure (network, server refused, …)
	exitUsage    = 2 // bad flags, missing device
	exitExpect   = 3 // --expect not met
	exitRejected = 4 // the server refused the join (room full, unauthorized, …)
)

// exitError carries a chosen exit code up to main.
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
	root := newRootCmd()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(os.Stderr, "videochat:", err)
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	return exitUsage // cobra's own errors are flag and argument errors
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "videochat",
		Short:         "Self-hosted video chat: a room server with a browser client, and a native peer",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd())
	for _, c := range extraCommands() {
		root.AddCommand(c)
	}
	return root
}
