package audiodev

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/gen2brain/malgo"
	"go.uber.org/goleak"

	"github.com/videochat/videochat/internal/pulsetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDevicesOnPulse: on a PulseAudio with one null sink, the context uses
// PulseAudio and lists the sink as a playback device and its monitor as a
// capture device, by their PulseAudio names.
func TestDevicesOnPulse(t *testing.T) {
	pa := pulsetest.Start(t, pulsetest.Sink{Name: "spk"})
	pa.Setenv(t)
	var logged strings.Builder
	ctx, err := Open(slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	if ctx.Backend() != "pulseaudio" || ctx.Exclusive() {
		t.Errorf("backend %s (exclusive %v), want pulseaudio, shared", ctx.Backend(), ctx.Exclusive())
	}
	has := func(kind malgo.DeviceType, id string) bool {
		devs, err := ctx.Devices(kind)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range devs {
			if d.ID == id {
				return true
			}
		}
		t.Errorf("devices %+v lack %q", devs, id)
		return false
	}
	has(malgo.Playback, "spk")
	has(malgo.Capture, "spk.monitor")
	if !strings.Contains(logged.String(), "audio backend") {
		t.Errorf("the chosen backend is not logged: %s", logged.String())
	}
}
