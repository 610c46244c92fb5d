package capture

import (
	"fmt"
	"math"
)

// A resampler converts mono audio from one sample rate to another with a
// polyphase windowed-sinc filter: the rate ratio is reduced to up/down
// (48000/44100 = 160/147), the prototype low-pass filter is designed for
// the rate up times the input's, and each output sample is the dot product
// of one of its up phases with the latest input samples.
//
// Invariants: the cut-off is 0.91 of the lower of the two Nyquist
// frequencies (so nothing above the output's Nyquist folds back when
// rates go down, and no image of the input spectrum appears above the
// input's Nyquist when they go up); the Kaiser window (β = 9) gives a
// stop band below -85 dB; the pass band is flat within 0.1 dB up to 0.7 of
// that Nyquist (-0.25 dB at 0.8). Streaming: Process may be called with any number of
// samples and keeps the input history it needs between calls, so chunk
// boundaries are inaudible. Delay: taps/2 input samples (≈ 0.67 ms at
// 48 kHz).
type resampler struct {
	up, down int
	taps     int       // taps per phase
	coef     []float32 // up phases × taps, phase-major, reversed within a phase
	hist     []float32 // the last taps-1 input samples, then the new ones
	pos      int       // position of the next output in the up-sampled stream, relative to hist[0]·up
}

// resamplerZeroCrossings is the number of zero crossings of the sinc on
// each side of its centre: the filter length in input samples is twice
// that (scaled when going down).
const resamplerZeroCrossings = 16

func newResampler(inRate, outRate int) (*resampler, error) {
	if inRate <= 0 || outRate <= 0 {
		return nil, fmt.Errorf("resampler: rates %d→%d Hz", inRate, outRate)
	}
	g := gcd(inRate, outRate)
	up, down := outRate/g, inRate/g
	if up > 1024 || down > 1024 {
		return nil, fmt.Errorf("resampler: ratio %d/%d of %d→%d Hz too complex", up, down, inRate, outRate)
	}
	r := &resampler{up: up, down: down}
	if up == 1 && down == 1 {
		return r, nil
	}
	// Cut-off relative to the up-sampled rate (inRate·up).
	cutoff := 0.91 * 0.5 / float64(max(up, down))
	scale := max(1.0, float64(down)/float64(up)) // longer filter when going down
	r.taps = 2 * int(math.Ceil(resamplerZeroCrossings*scale))
	n := r.taps * up
	const beta = 9.0
	proto := make([]float64, n)
	centre := float64(n-1) / 2
	i0b := besselI0(beta)
	for i := range proto {
		x := float64(i) - centre
		sinc := 2 * cutoff
		if x != 0 {
			sinc = math.Sin(2*math.Pi*cutoff*x) / (math.Pi * x)
		}
		w := 2*float64(i)/float64(n-1) - 1
		proto[i] = sinc * besselI0(beta*math.Sqrt(max(0, 1-w*w))) / i0b * float64(up)
	}
	// Phase p uses proto[p + k·up], k = 0..taps-1; stored reversed so the
	// dot product runs forward over the input.
	r.coef = make([]float32, n)
	for p := 0; p < up; p++ {
		// Normalise each phase to unity DC gain so that steady signals keep
		// their level exactly.
		sum := 0.0
		for k := 0; k < r.taps; k++ {
			sum += proto[p+k*up]
		}
		for k := 0; k < r.taps; k++ {
			r.coef[p*r.taps+(r.taps-1-k)] = float32(proto[p+k*up] / sum)
		}
	}
	r.hist = make([]float32, r.taps-1, 4096)
	return r, nil
}

// Process appends to dst the output samples that in completes and returns
// the extended slice.
func (r *resampler) Process(dst, in []float32) []float32 {
	if r.coef == nil {
		return append(dst, in...)
	}
	r.hist = append(r.hist, in...)
	// Output j sits at up-sampled position pos = j·down: it is the sum of
	// proto[pos%up + k·up]·x[pos/up - k] over k, which with the reversed
	// phases and the taps-1 samples of history in front is a forward dot
	// product over hist[pos/up : pos/up+taps].
	for {
		base := r.pos / r.up
		if base+r.taps > len(r.hist) {
			break
		}
		phase := r.pos % r.up
		c := r.coef[phase*r.taps : (phase+1)*r.taps]
		x := r.hist[base : base+r.taps]
		var acc float32
		for k := range c {
			acc += c[k] * x[k]
		}
		dst = append(dst, acc)
		r.pos += r.down
	}
	// Drop the input no future output needs.
	if drop := r.pos / r.up; drop > 0 {
		n := copy(r.hist, r.hist[drop:])
		r.hist = r.hist[:n]
		r.pos -= drop * r.up
	}
	return dst
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// besselI0 is the zeroth-order modified Bessel function of the first kind
// (power series), for the Kaiser window.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < 1e-12*sum {
			break
		}
	}
	return sum
}
