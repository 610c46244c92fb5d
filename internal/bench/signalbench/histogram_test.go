package signalbench

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func TestHistogramQuantilesUniform(t *testing.T) {
	var h Histogram
	const n = 100000
	for i := 1; i <= n; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := q * n * float64(time.Microsecond)
		got := float64(h.Quantile(q))
		if math.Abs(got-want)/want > 0.01 {
			t.Errorf("q%v = %v, want %v within 1%%", q, time.Duration(got), time.Duration(want))
		}
	}
	if h.Count() != n || h.Min() != time.Microsecond || h.Max() != n*time.Microsecond {
		t.Errorf("count %d min %v max %v", h.Count(), h.Min(), h.Max())
	}
	if m := h.Mean(); m < 49*time.Millisecond || m > 51*time.Millisecond {
		t.Errorf("mean = %v, want about 50ms", m)
	}
}

func TestHistogramSmallValuesExact(t *testing.T) {
	var h Histogram
	for _, v := range []time.Duration{3, 7, 7, 200} {
		h.Record(v)
	}
	for q, want := range map[float64]time.Duration{0.25: 3, 0.5: 7, 0.75: 7, 1: 200} {
		if got := h.Quantile(q); got != want {
			t.Errorf("q%v = %v, want %v", q, got, want)
		}
	}
}

func TestHistogramSkewedAndMerge(t *testing.T) {
	// 99 % fast (about 1 ms), 1 % slow (about 1 s): p50 and p99.9 fall in
	// different decades.
	var a, b Histogram
	rng := rand.New(rand.NewPCG(7, 9))
	for i := range 20000 {
		h := &a
		if i%2 == 1 {
			h = &b
		}
		d := time.Millisecond + time.Duration(rng.IntN(1000))*time.Microsecond/10
		if i%100 == 0 {
			d = time.Second
		}
		h.Record(d)
	}
	a.Merge(&b)
	if a.Count() != 20000 {
		t.Fatalf("merged count %d", a.Count())
	}
	if p := a.Quantile(0.5); p < time.Millisecond || p > 1100*time.Microsecond {
		t.Errorf("p50 = %v, want 1–1.1 ms", p)
	}
	if p := a.Quantile(0.999); p < 990*time.Millisecond || p > time.Second {
		t.Errorf("p99.9 = %v, want about 1 s", p)
	}
	if a.Max() != time.Second || a.Min() < time.Millisecond {
		t.Errorf("min %v max %v", a.Min(), a.Max())
	}
}

func TestHistogramConcurrent(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				h.Record(time.Duration(g*1000+i) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	if h.Count() != 8000 || h.Max() != 7999*time.Microsecond || h.Min() != 0 {
		t.Errorf("count %d min %v max %v", h.Count(), h.Min(), h.Max())
	}
}

func TestHistogramBuckets(t *testing.T) {
	// Every bucket's range starts right after the previous one's.
	prevHi := uint64(0)
	for i := 1; i < numBuckets; i++ {
		lo, hi := bucketRange(i)
		if lo != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d = [%d, %d], previous ended at %d", i, lo, hi, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d: bucketOf(%d)=%d bucketOf(%d)=%d", i, lo, bucketOf(lo), hi, bucketOf(hi))
		}
		prevHi = hi
	}
	if var0 := (&Histogram{}).Quantile(0.5); var0 != 0 {
		t.Errorf("empty quantile = %v", var0)
	}
}
