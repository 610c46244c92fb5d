package pulsetest_test

import (
	"strings"
	"testing"

	"github.com/videochat/videochat/internal/pulsetest"
)

func TestStartListsSinksAndMonitors(t *testing.T) {
	s := pulsetest.Start(t, pulsetest.Sink{Name: "mic", Rate: 44100, Channels: 1}, pulsetest.Sink{Name: "spk"})
	sources := s.Pactl("list", "short", "sources")
	for _, want := range []string{"mic.monitor", "spk.monitor"} {
		if !strings.Contains(sources, want) {
			t.Errorf("sources %q lack %s", sources, want)
		}
	}
	if sinks := s.Pactl("list", "short", "sinks"); !strings.Contains(sinks, "44100Hz") {
		t.Errorf("sinks %q: want the 44.1 kHz mono sink", sinks)
	}
}
