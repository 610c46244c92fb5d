package main

import (
	"encoding/json"
	"errors"
	"os"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/spf13/cobra"

	"github.com/videochat/videochat/peer/doctor"
)

func newDoctorCmd() *cobra.Command {
	var (
		server  string
		asJSON  bool
		timeout time.Duration
		nf      netFlags
		lf      logFlags
	)
	cmd := &cobra.Command{
		Use:   "doctor --server URL",
		Short: "Check a server: WebSocket join, ICE servers, and candidates through each STUN/TURN path",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := lf.Logger(os.Stderr)
			if err != nil {
				return err
			}
			r := doctor.Run(cmd.Context(), doctor.Config{
				Server:        server,
				Timeout:       timeout,
				SettingEngine: nf.configure(server),
				Logger:        log.With("component", "doctor"),
			})
			if asJSON {
				err = json.NewEncoder(os.Stdout).Encode(r)
			} else {
				err = r.Write(os.Stdout)
			}
			if err != nil {
				return withCode(exitError, err)
			}
			if !r.OK {
				return withCode(exitError, errors.New("doctor: a check failed (see above)"))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&server, "server", envOr("VIDEOCHAT_SERVER", "http://127.0.0.1:8080"), "server base URL (env VIDEOCHAT_SERVER)")
	fl.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fl.DurationVar(&timeout, "timeout", 5*time.Second, "time limit of each check")
	nf.register(fl)
	fl.StringVar(&lf.Level, "log-level", "warn", "log level: debug, info, warn, error")
	fl.StringVar(&lf.Format, "log-format", "text", "log format: text or json")
	return cmd
}

// configure returns a SettingEngine hook applying the ICE network flags.
func (f *netFlags) configure(server string) func(*webrtc.SettingEngine) {
	return func(se *webrtc.SettingEngine) {
		f.apply(se, server)
	}
}
