package main

import "github.com/spf13/cobra"

// benchCallCmds returns the media benchmark subcommands of `bench`.
func benchCallCmds() []*cobra.Command { return nil }
