package main

import "github.com/spf13/cobra"

// extraCommands returns the subcommands besides serve.
func extraCommands() []*cobra.Command {
	return []*cobra.Command{newJoinCmd(), newDevicesCmd(), newDoctorCmd(), newTokenCmd(), newBenchCmd()}
}
