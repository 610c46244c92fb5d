package capture

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/videochat/videochat/internal/pulsetest"
)

// TestMicrophoneRefused: a source the sound server refuses to record (a
// real PulseAudio refusal, see pulsetest.Refuse) is a clear error at Open,
// wrapping ErrDeviceBusy, naming the device and the way on. Refused when
// the pipeline starts (after Open found it fine), the source sends silence
// and records once the server accepts the stream again.
func TestMicrophoneRefused(t *testing.T) {
	pa := pulsetest.Start(t, pulsetest.Sink{Name: "vsink"})
	pa.AddMicrophone("vmic", "vsink")
	pa.Play("vsink", 48000, 2, "600", "sine", "440", "gain", "-6")
	pa.Setenv(t)
	log := testLogger(t)

	allow := pa.Refuse("vmic")
	_, err := Open(Config{Video: SourceNone, Audio: SourceMic, Mic: "vmic", Logger: log})
	if !errors.Is(err, ErrDeviceBusy) || !strings.Contains(err.Error(), "vmic") || !strings.Contains(err.Error(), "--audio test") {
		t.Fatalf("Open of a refused microphone: %v; want ErrDeviceBusy naming vmic and --audio test", err)
	}

	src, err := openMicrophone("vmic", log, nil)
	if err != nil {
		t.Fatalf("a refused microphone ends the pipeline: %v", err)
	}
	defer src.Close()
	if p := peakOf(readMic(t, src, 200*time.Millisecond)); p != 0 {
		t.Fatalf("a refused microphone sends peak %.3f, want silence", p)
	}
	allow()
	for deadline := time.Now().Add(30 * time.Second); peakOf(readMic(t, src, 100*time.Millisecond)) < 0.1; {
		if time.Now().After(deadline) {
			t.Fatal("no tone within 30 s of the server accepting the stream again")
		}
	}
}

func peakOf(x []float32) float64 {
	var p float64
	for _, v := range x {
		p = max(p, math.Abs(float64(v)))
	}
	return p
}
