package callbench

import (
	"math"
	"slices"
)

// percentile returns the p-th percentile (0..100) of xs by linear
// interpolation between the closest ranks; NaN for no values.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if p <= 0 {
		return s[0]
	}
	if p >= 100 {
		return s[len(s)-1]
	}
	rank := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(rank))
	hi := int(math.Ceil(rank))
	return s[lo] + (s[hi]-s[lo])*(rank-float64(lo))
}

// Summary describes a set of measurements in milliseconds.
type Summary struct {
	N   int       `json:"n"`
	P50 float64   `json:"p50_ms"`
	Min float64   `json:"min_ms"`
	Max float64   `json:"max_ms"`
	All []float64 `json:"all_ms"`
}

func summarize(ms []float64) Summary {
	if len(ms) == 0 {
		return Summary{}
	}
	return Summary{N: len(ms), P50: percentile(ms, 50), Min: slices.Min(ms), Max: slices.Max(ms), All: ms}
}
