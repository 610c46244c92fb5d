package capture

import (
	"math"
	"testing"

	"github.com/videochat/videochat/internal/tonetest"
)

// resampleAll feeds x through r in uneven chunks, as a device would.
func resampleAll(t *testing.T, r *resampler, x []float32) []float32 {
	t.Helper()
	var out []float32
	chunks := []int{1, 7, 441, 160, 1024, 3}
	for i := 0; len(x) > 0; i++ {
		n := min(chunks[i%len(chunks)], len(x))
		out = r.Process(out, x[:n])
		x = x[n:]
	}
	return out
}

// TestResamplerFrequencyResponse checks, for every rate a microphone may
// deliver, that tones in the pass band keep their frequency and level, that
// the output has the right length, and that up-sampling images (the
// mirror of a tone around the input's Nyquist) are suppressed.
func TestResamplerFrequencyResponse(t *testing.T) {
	for _, in := range []int{8000, 16000, 22050, 32000, 44100, 48000, 96000} {
		r, err := newResampler(in, audioRate)
		if err != nil {
			t.Fatal(err)
		}
		nyq := float64(min(in, audioRate)) / 2
		for _, frac := range []float64{0.01, 0.1, 0.5, 0.7, 0.8} {
			f := frac * nyq
			r, _ := newResampler(in, audioRate)
			x := tonetest.Sine(in, f, in, 0.5) // one second
			out := resampleAll(t, r, x)
			if d := len(out) - audioRate; d < -8 || d > 0 {
				t.Errorf("%d Hz: %d output samples for 1 s, want ≈ %d", in, len(out), audioRate)
			}
			seg := out[len(out)/4 : len(out)*3/4]
			got := tonetest.Amplitude(seg, f, audioRate)
			tol := 0.1
			if frac > 0.75 {
				tol = 0.5 // the edge of the transition band
			}
			if g := tonetest.DB(got / 0.5); math.Abs(g) > tol {
				t.Errorf("%d Hz input, %.0f Hz tone: gain %.3f dB, want within ±%.1f dB", in, f, g, tol)
			}
			if in < audioRate {
				image := 2*nyq - f // mirror around the input's Nyquist
				if a := tonetest.DB(tonetest.Amplitude(seg, image, audioRate) / 0.5); a > -70 {
					t.Errorf("%d Hz input, %.0f Hz tone: image at %.0f Hz only %.1f dB down", in, f, image, a)
				}
			}
		}
		_ = r
	}
}

// TestResamplerRejectsAboveNyquist: going down (96 → 48 kHz), a tone above
// the output's Nyquist must not fold back into the audible band.
func TestResamplerRejectsAboveNyquist(t *testing.T) {
	r, err := newResampler(96000, audioRate)
	if err != nil {
		t.Fatal(err)
	}
	out := resampleAll(t, r, tonetest.Sine(96000, 30000, 96000, 0.5))
	seg := out[len(out)/4 : len(out)*3/4]
	if a := tonetest.DB(tonetest.Amplitude(seg, 18000, audioRate) / 0.5); a > -70 {
		t.Errorf("30 kHz tone folded to 18 kHz at %.1f dB", a)
	}
}

func TestResamplerRatios(t *testing.T) {
	for _, c := range []struct{ in, up, down int }{
		{8000, 6, 1}, {16000, 3, 1}, {22050, 320, 147}, {32000, 3, 2}, {44100, 160, 147}, {48000, 1, 1},
	} {
		r, err := newResampler(c.in, audioRate)
		if err != nil {
			t.Fatal(err)
		}
		if r.up != c.up || r.down != c.down {
			t.Errorf("%d Hz: ratio %d/%d, want %d/%d", c.in, r.up, r.down, c.up, c.down)
		}
	}
	if _, err := newResampler(48001, audioRate); err == nil {
		t.Error("48001 Hz: no error for an unreasonable ratio")
	}
}

func BenchmarkResampler44100(b *testing.B) {
	r, _ := newResampler(44100, audioRate)
	x := tonetest.Sine(441, 440, 44100, 0.5) // 10 ms
	var out []float32
	b.SetBytes(int64(len(x) * 4))
	for b.Loop() {
		out = r.Process(out[:0], x)
	}
}
