package fakecam

import (
	"fmt"
	"strings"
)

// Environment of a binary built with -tags fakecam.
const (
	// EnvModels lists the cameras to register, comma-separated models
	// (see Modes); each is registered with label "fake-MODEL".
	EnvModels = "VIDEOCHAT_FAKECAM"
	// EnvUnplug names a file: while it exists, every fake camera is
	// unplugged.
	EnvUnplug = "VIDEOCHAT_FAKECAM_UNPLUG"
	// EnvBusy names a file: while it exists, every fake camera is busy
	// (in use by another program: starting a stream fails with EBUSY).
	EnvBusy = "VIDEOCHAT_FAKECAM_BUSY"
)

// RegisterFromEnv registers the cameras getenv(EnvModels) names, for the
// lifetime of the process.
func RegisterFromEnv(getenv func(string) string) error {
	list := getenv(EnvModels)
	if list == "" {
		return nil
	}
	for _, model := range strings.Split(list, ",") {
		modes, ok := Modes(strings.TrimSpace(model))
		if !ok {
			return fmt.Errorf("%s: unknown model %q (mjpeg, yuyv, nv12, hd720)", EnvModels, model)
		}
		files := Files{Unplug: getenv(EnvUnplug), Busy: getenv(EnvBusy)}
		if _, _, err := RegisterFiles("fake-"+strings.TrimSpace(model), files, modes...); err != nil {
			return err
		}
	}
	return nil
}
