package tonetest

import (
	"math"
	"testing"
)

func TestMeasures(t *testing.T) {
	x := Sine(48000, 440, 48000, 0.5)
	if a := Amplitude(x, 440, 48000); math.Abs(a-0.5) > 0.005 {
		t.Errorf("amplitude at 440 Hz = %.4f, want 0.5", a)
	}
	if a := DB(Amplitude(x, 1000, 48000) / 0.5); a > -80 {
		t.Errorf("1 kHz in a 440 Hz tone at %.1f dB", a)
	}
	pcm := make([]int16, len(x))
	for i, v := range x {
		pcm[i] = int16(v * math.MaxInt16)
	}
	if s := Share(pcm, 440, 48000); s < 0.99 || s > 1.01 {
		t.Errorf("share at 440 Hz = %.3f, want 1", s)
	}
	if s := Share(pcm, 400, 48000); s > 0.01 {
		t.Errorf("share at 400 Hz = %.3f, want 0", s)
	}
	if r := RMS(pcm); math.Abs(r-0.5/math.Sqrt2) > 0.005 {
		t.Errorf("rms %.4f, want %.4f", r, 0.5/math.Sqrt2)
	}
	if Share(make([]int16, 10), 440, 48000) != 0 || RMS(nil) != 0 || Amplitude(nil, 440, 48000) != 0 {
		t.Error("silence or no samples is not 0")
	}
	if d := DB(0.1); math.Abs(d+20) > 1e-9 {
		t.Errorf("DB(0.1) = %v", d)
	}
}

// TestOnsets: a tone that turns loud at known samples is found there,
// within a period.
func TestOnsets(t *testing.T) {
	const rate = 48000
	x := make([]int16, 3*rate)
	for i := range x {
		amp := 0.05
		if i%rate < rate*3/10 && i >= rate/2 {
			amp = 0.3
		}
		x[i] = int16(amp * math.MaxInt16 * math.Sin(2*math.Pi*440*float64(i)/rate))
	}
	got := Onsets(x, 440, rate, 0.12, rate/2)
	if len(got) != 2 {
		t.Fatalf("onsets %v, want 2", got)
	}
	for k, want := range []int{rate, 2 * rate} {
		if d := got[k] - want; d < -rate/440 || d > rate/440 {
			t.Errorf("onset %d at %d, want %d", k, got[k], want)
		}
	}
}
