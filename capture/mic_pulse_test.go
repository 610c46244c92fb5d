package capture

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/wave"

	"github.com/videochat/videochat/internal/pulsetest"
	"github.com/videochat/videochat/internal/tonetest"
)

// The tests in this file record through the real driver path: a
// throw-away PulseAudio whose null sink is fed a tone by paplay, and a
// remapped source of its monitor standing in for a microphone.

// readMic reads d of audio from s as float samples at 48 kHz.
func readMic(t *testing.T, s audioSource, d time.Duration) []float32 {
	t.Helper()
	var out []float32
	for len(out) < int(d.Seconds()*audioRate) {
		a, release, err := s.Read()
		if err != nil {
			t.Fatal(err)
		}
		c, ok := a.(*wave.Int16Interleaved)
		if !ok || c.Size.Channels != 1 || c.Size.SamplingRate != audioRate || c.Size.Len != audioFrameTicks {
			t.Fatalf("chunk %T %+v, want 20 ms of mono int16 at 48 kHz", a, a.ChunkInfo())
		}
		for _, v := range c.Data {
			out = append(out, float32(v)/32768)
		}
		release()
	}
	return out
}

// toneLevel is the amplitude at 440 Hz and the strongest amplitude at
// other frequencies (harmonics, aliases, images) in x.
func toneLevel(x []float32) (at440, other float64) {
	at440 = tonetest.Amplitude(x, 440, audioRate)
	for _, f := range []float64{220, 330, 550, 660, 880, 1000, 1320, 2000, 3000, 4000, 7560, 8000, 15560} {
		other = math.Max(other, tonetest.Amplitude(x, f, audioRate))
	}
	return at440, other
}

func TestMicrophoneRatesAndFormats(t *testing.T) {
	for _, c := range []struct {
		rate, ch int
		format   string
	}{
		{48000, 2, ""}, {44100, 1, ""}, {16000, 1, ""}, {8000, 1, ""}, {22050, 2, ""}, {32000, 1, "float32le"}, {48000, 1, "float32le"},
	} {
		t.Run(fmt.Sprintf("%d-%dch-%s", c.rate, c.ch, cmpOr(c.format, "s16")), func(t *testing.T) {
			pa := pulsetest.Start(t, pulsetest.Sink{Name: "speaker"}, pulsetest.Sink{Name: "vsink", Rate: c.rate, Channels: c.ch, Format: c.format})
			pa.AddMicrophone("vmic", "vsink")
			pa.SetDefaultSource("vmic")
			pa.Setenv(t)
			pa.Play("vsink", c.rate, c.ch, "600", "sine", "440", "gain", "-6")

			log := testLogger(t)
			choice, err := findMicrophone(Config{Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			if choice.id != "vmic" || choice.mode.rate != c.rate || choice.mode.channels != c.ch {
				t.Errorf("chose %+v, want vmic at its native %d Hz %d ch", choice, c.rate, c.ch)
			}
			s, err := openMicrophone("", log, choice.released)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			waitTone(t, s)
			x := readMic(t, s, time.Second)
			// sox's -6 dB sine has amplitude 0.5. Level and purity are
			// judged on the best 200 ms (every frequency checked is a whole
			// number of cycles in it): a null sink fed by paplay on a loaded
			// machine has underrun gaps, whose clicks are no fault of the
			// resampler under test.
			peak, other := 0.0, 0.0
			for i := 0; i+audioRate/5 <= len(x); i += audioRate / 10 {
				if a, o := toneLevel(x[i : i+audioRate/5]); a > peak {
					peak, other = a, o
				}
			}
			if peak < 0.4 || peak > 0.6 {
				t.Errorf("440 Hz at amplitude %.3f, want ≈ 0.5", peak)
			}
			if tonetest.DB(other/peak) > -40 {
				t.Errorf("other frequencies only %.1f dB below the tone", tonetest.DB(other/peak))
			}
			at, _ := toneLevel(x)
			t.Logf("440 Hz amplitude over 1 s %.3f, best 200 ms %.3f with the strongest other %.1f dB", at, peak, tonetest.DB(other/peak))
		})
	}
}

func cmpOr(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// TestMicrophoneNotAMonitor: with only monitors of outputs there is no
// default microphone; a monitor named by id is recorded.
func TestMicrophoneNotAMonitor(t *testing.T) {
	pa := pulsetest.Start(t, pulsetest.Sink{Name: "vsink"})
	pa.SetDefaultSource("vsink.monitor")
	pa.Setenv(t)
	_, err := Open(Config{Audio: "mic", Logger: testLogger(t)})
	if !errors.Is(err, ErrNoMicrophone) || !strings.Contains(err.Error(), "vsink.monitor") {
		t.Fatalf("got %v, want ErrNoMicrophone naming the monitor", err)
	}
	t.Log(err)
	if _, err := Open(Config{Audio: "mic", Mic: "nope", Logger: testLogger(t)}); !errors.Is(err, ErrNoMicrophone) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("unknown id: got %v", err)
	}
	m, err := Open(Config{Audio: "mic", Mic: "vsink.monitor", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	ds, err := Devices(testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].ID != "vsink.monitor" || ds[0].Default || len(ds[0].Modes) == 0 {
		t.Errorf("devices %+v: want vsink.monitor with its modes, not the default", ds)
	}
}

// TestMicrophoneUnplugged: the microphone vanishes mid-call (its module is
// unloaded): Read goes on with silence at the real-time pace, and the tone
// is back once the device is.
func TestMicrophoneUnplugged(t *testing.T) {
	pa := pulsetest.Start(t, pulsetest.Sink{Name: "speaker"}, pulsetest.Sink{Name: "vsink", Rate: 44100, Channels: 1})
	mod := pa.AddMicrophone("vmic", "vsink")
	pa.SetDefaultSource("vmic")
	pa.Setenv(t)
	pa.Play("vsink", 44100, 1, "600", "sine", "440", "gain", "-6")
	s, err := openMicrophone("vmic", testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitTone(t, s)
	pa.Pactl("unload-module", mod)
	start := time.Now()
	x := readMic(t, s, 2*time.Second)
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Errorf("2 s of audio in %v while unplugged: not paced", d)
	}
	if at, _ := toneLevel(x[len(x)/2:]); at > 0.05 {
		t.Errorf("tone %.3f while unplugged", at)
	}
	if !s.stalled.Load() {
		t.Error("not stalled while unplugged")
	}
	pa.AddMicrophone("vmic", "vsink")
	t.Logf("back %v after the replug", waitTone(t, s))
}

// waitTone reads from s until a 440 Hz tone is heard (the sound server
// takes a moment to start streams) and returns how long that took.
func waitTone(t *testing.T, s audioSource) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if at, _ := toneLevel(readMic(t, s, 200*time.Millisecond)); at > 0.3 {
			return time.Since(start).Round(time.Millisecond)
		}
		if time.Since(start) > 20*time.Second {
			t.Fatal("no 440 Hz tone within 20 s")
		}
	}
}

// TestMicrophoneUnsupportedFormat: a microphone whose only mode this
// program cannot record (8-bit unsigned) is a clear error naming the
// modes it has.
func TestMicrophoneUnsupportedFormat(t *testing.T) {
	pa := pulsetest.Start(t, pulsetest.Sink{Name: "vsink", Rate: 44100, Channels: 1, Format: "u8"})
	pa.AddMicrophone("vmic", "vsink")
	pa.SetDefaultSource("vmic")
	pa.Setenv(t)
	_, err := Open(Config{Audio: "mic", Logger: testLogger(t)})
	if !errors.Is(err, ErrNoMicrophone) || !strings.Contains(err.Error(), "u8") {
		t.Fatalf("got %v, want ErrNoMicrophone naming the u8 mode", err)
	}
	t.Log(err)
}
