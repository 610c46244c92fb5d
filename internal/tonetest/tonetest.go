// Package tonetest measures tones in recorded or decoded audio, for the
// tests of capture, playback and e2e: a tone generator and the Goertzel
// filter in its two readings (amplitude of a frequency; share of the power
// at a frequency), RMS and decibels. Pure functions of their inputs.
package tonetest

import "math"

// Sine is n samples of a sine of frequency f and amplitude amp at rate.
func Sine(n int, f float64, rate int, amp float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(amp * math.Sin(2*math.Pi*f*float64(i)/float64(rate)))
	}
	return x
}

// Amplitude is the amplitude of frequency f in x (sampled at rate), Hann
// windowed against leakage from the edges: ≈ A for a sine of amplitude A.
func Amplitude(x []float32, f float64, rate int) float64 {
	if len(x) < 2 {
		return 0
	}
	w := 2 * math.Pi * f / float64(rate)
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for i, v := range x {
		win := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(len(x)-1))
		s0 := float64(v)*win + c*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - c*s1*s2
	return 2 * math.Sqrt(math.Max(p, 0)) / (float64(len(x)) * 0.5)
}

// Share is the power of frequency f in x (sampled at rate) relative to x's
// total power: 1 for a pure tone at f, ≈ 0 without it, 0 for silence.
func Share(x []int16, f float64, rate int) float64 {
	if len(x) == 0 {
		return 0
	}
	w := 2 * math.Pi * f / float64(rate)
	c := 2 * math.Cos(w)
	var s1, s2, total float64
	for _, v := range x {
		s := float64(v)
		s0 := s + c*s1 - s2
		s2, s1 = s1, s0
		total += s * s
	}
	if total == 0 {
		return 0
	}
	return 2 * (s1*s1 + s2*s2 - c*s1*s2) / (float64(len(x)) * total)
}

// RMS is x's root mean square relative to full scale (1 for a full-scale
// square wave, 0 for silence or no samples).
func RMS(x []int16) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s/float64(max(1, len(x)))) / math.MaxInt16
}

// DB is the ratio a in decibels (an amplitude ratio; -240 dB for 0).
func DB(a float64) float64 { return 20 * math.Log10(math.Max(a, 1e-12)) }

// Onsets returns where a tone of frequency f in x (sampled at rate) turns
// loud: the centres of the one-period windows whose RMS (relative to full
// scale) crosses threshold after at least quiet samples below it.
func Onsets(x []int16, f float64, rate int, threshold float64, quiet int) []int {
	w := max(1, int(float64(rate)/f))
	var out []int
	var sum float64
	below := 0
	for i := range x {
		v := float64(x[i]) / math.MaxInt16
		sum += v * v
		if i >= w {
			o := float64(x[i-w]) / math.MaxInt16
			sum -= o * o
		}
		if i < w {
			continue
		}
		loud := math.Sqrt(max(sum, 0)/float64(w)) > threshold
		if loud && below >= quiet {
			out = append(out, i-w/2)
		}
		if loud {
			below = 0
		} else {
			below++
		}
	}
	return out
}
