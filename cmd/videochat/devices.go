package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/videochat/videochat/capture"
)

// deviceLists are the sources of `videochat devices`, concatenated in
// this order. Each opens its drivers only when called. Output devices
// (speakers) come from playback.
func deviceLists() []func(*slog.Logger) ([]capture.Device, error) {
	return []func(*slog.Logger) ([]capture.Device, error){
		capture.Devices,
		speakerDevices,
	}
}

func newDevicesCmd() *cobra.Command {
	asJSON := false
	var lf logFlags
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List cameras, screens, microphones and speakers, with their modes",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			log, err := lf.Logger(os.Stderr)
			if err != nil {
				return withCode(exitUsage, err)
			}
			devs, err := listDevices(log)
			if err != nil {
				return withCode(exitError, err)
			}
			if asJSON {
				return json.NewEncoder(os.Stdout).Encode(devs)
			}
			if len(devs) == 0 {
				fmt.Println("no devices found (use --video test / --audio test with join)")
				return nil
			}
			return printDevices(devs)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON, with every mode of every device")
	cmd.Flags().StringVar(&lf.Level, "log-level", "warn", "log level: debug shows what the audio libraries print")
	cmd.Flags().StringVar(&lf.Format, "log-format", "text", "log format: text or json")
	return cmd
}

func listDevices(log *slog.Logger) ([]capture.Device, error) {
	devs := []capture.Device{}
	for _, list := range deviceLists() {
		d, err := list(log)
		if err != nil {
			return nil, err
		}
		devs = append(devs, d...)
	}
	return devs, nil
}

// printDevices prints one line per device; "*" marks the default of each
// kind, MODES summarises (all of them are in --json).
func printDevices(devs []capture.Device) error {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tID\tDEFAULT\tLABEL\tMODES")
	for _, d := range devs {
		dflt := ""
		if d.Default {
			dflt = "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Kind, d.ID, dflt, d.Label, summariseModes(d))
	}
	return tw.Flush()
}

func summariseModes(d capture.Device) string {
	if d.Error != "" {
		return "(" + d.Error + ")"
	}
	var s []string
	for i, m := range d.Modes {
		if i == 3 {
			s = append(s, fmt.Sprintf("… %d more", len(d.Modes)-3))
			break
		}
		s = append(s, m.String())
	}
	return strings.Join(s, ", ")
}

// openMediaError maps capture.Open's error to an exit code: a device that
// is not there is a usage error (2), its one line naming the devices of
// that kind there are; anything else (busy, failing) is a runtime error
// (1).
func openMediaError(err error) error {
	if errors.Is(err, capture.ErrNoCamera) || errors.Is(err, capture.ErrNoMicrophone) || errors.Is(err, capture.ErrNoScreen) {
		return withCode(exitUsage, err)
	}
	return withCode(exitError, err)
}
