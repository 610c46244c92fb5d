//go:build fakecam

// Test builds only (go build -tags fakecam): registers the fake cameras
// named by $VIDEOCHAT_FAKECAM in mediadevices' driver manager, as the
// v4l2 driver registers the real ones, before any command runs. The
// product binary has no such file and no fake driver.
package main

import (
	"fmt"
	"os"

	"github.com/videochat/videochat/internal/fakecam"
)

func init() {
	if err := fakecam.RegisterFromEnv(os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "videochat:", err)
		os.Exit(exitUsage)
	}
}
