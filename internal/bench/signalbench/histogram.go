package signalbench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram buckets: values below 2*subCount are exact; above, each power
// of two is split into subCount buckets, so a recorded value is known to
// within 1/subCount (0.8 %) — the idea of an HDR histogram with two
// significant digits, in a fixed 58 KiB of counters.
const (
	subBits    = 7
	subCount   = 1 << subBits
	numBuckets = (64 - subBits) * subCount
)

// Histogram counts durations in logarithmic buckets. Record is safe for
// concurrent use and does not allocate; read it once recording has stopped.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Uint64
	min    atomic.Uint64 // stored as value+1 so that zero means unset
	max    atomic.Uint64
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)].Add(1)
	h.total.Add(1)
	h.sum.Add(v)
	h.extend(v)
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max is the largest recorded value (exact).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Min is the smallest recorded value (exact); zero when empty.
func (h *Histogram) Min() time.Duration {
	if m := h.min.Load(); m != 0 {
		return time.Duration(m - 1)
	}
	return 0
}

// Mean is the average recorded value; zero when empty.
func (h *Histogram) Mean() time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the value below which a fraction q (0..1) of the
// recorded values lie, as the midpoint of its bucket clamped to the exact
// minimum and maximum; zero when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, hi := bucketRange(i)
			v := lo + (hi-lo)/2
			return min(max(time.Duration(v), h.Min()), h.Max())
		}
	}
	return h.Max()
}

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	if o.Count() == 0 {
		return
	}
	h.total.Add(o.total.Load())
	h.sum.Add(o.sum.Load())
	for _, v := range []time.Duration{o.Min(), o.Max()} {
		h.extend(uint64(v))
	}
}

// extend widens min and max to include v.
func (h *Histogram) extend(v uint64) {
	for {
		cur := h.min.Load()
		if cur != 0 && cur-1 <= v || h.min.CompareAndSwap(cur, v+1) {
			break
		}
	}
	for {
		cur := h.max.Load()
		if cur >= v || h.max.CompareAndSwap(cur, v) {
			break
		}
	}
}

// bucketOf maps a value to its bucket index.
func bucketOf(v uint64) int {
	if v < 2*subCount {
		return int(v)
	}
	shift := bits.Len64(v) - (subBits + 1)
	return (shift+1)*subCount + int(v>>shift) - subCount
}

// bucketRange returns the smallest and largest value of bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < 2*subCount {
		return uint64(i), uint64(i)
	}
	shift := i/subCount - 1
	sub := uint64(i%subCount + subCount)
	return sub << shift, (sub+1)<<shift - 1
}
