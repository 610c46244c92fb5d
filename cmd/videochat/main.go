// Command videochat is a self-hosted video-chat system in one binary: a
// WebSocket room signalling server that serves a browser client (serve) and
// a native WebRTC peer that joins rooms from Go (join).
package main

import (
	"github.com/spf13/cobra"

	"github.com/videochat/videochat/internal/cli"
)

// Exit codes, documented in README.md.
const (
	exitOK       = 0
	exitError    = 1             // runtime failure (network, server refused, …)
	exitUsage    = cli.ExitUsage // bad flags, missing device
	exitExpect   = 3             // --expect not met
	exitRejected = 4             // the server refused the join (room full, unauthorized, …)
)

// withCode wraps err with an exit code for main (cli.WithCode).
func withCode(code int, err error) error { return cli.WithCode(code, err) }

func main() { cli.Main("videochat", newRootCmd()) }

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
