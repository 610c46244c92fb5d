package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/videochat/videochat/capture"
)

func newDevicesCmd() *cobra.Command {
	asJSON := false
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List cameras, microphones and speakers",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			devs, err := capture.Devices()
			if err != nil {
				return withCode(exitError, err)
			}
			devs = appendSpeakers(devs)
			if asJSON {
				if devs == nil {
					devs = []capture.Device{}
				}
				return json.NewEncoder(os.Stdout).Encode(devs)
			}
			if len(devs) == 0 {
				fmt.Println("no cameras or microphones found (use --video test / --audio test with join)")
				return nil
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KIND\tID\tLABEL")
			for _, d := range devs {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", d.Kind, d.ID, d.Label)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
