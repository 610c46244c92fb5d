package callbench

import (
	"math"
	"testing"
)

func TestPercentile(t *testing.T) {
	tests := []struct {
		xs   []float64
		p    float64
		want float64
	}{
		{[]float64{5}, 50, 5},
		{[]float64{3, 1, 2}, 50, 2},
		{[]float64{4, 1, 3, 2}, 50, 2.5},
		{[]float64{10, 20, 30, 40, 50}, 90, 46},
		{[]float64{10, 20, 30}, 0, 10},
		{[]float64{10, 20, 30}, 100, 30},
	}
	for _, tc := range tests {
		if got := percentile(tc.xs, tc.p); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("percentile(%v, %v) = %v, want %v", tc.xs, tc.p, got, tc.want)
		}
	}
	if !math.IsNaN(percentile(nil, 50)) {
		t.Error("percentile of nothing is not NaN")
	}
	in := []float64{3, 1, 2}
	_ = percentile(in, 50)
	if in[0] != 3 {
		t.Error("percentile reordered its input")
	}
}

func TestSummarize(t *testing.T) {
	s := summarize([]float64{90, 110, 100, 300})
	if s.N != 4 || s.P50 != 105 || s.Min != 90 || s.Max != 300 {
		t.Fatalf("summarize = %+v", s)
	}
	if s := summarize(nil); s.N != 0 || s.All != nil {
		t.Fatal("summary of nothing is not zero")
	}
}
