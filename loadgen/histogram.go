package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// The histogram is log-linear: values below subBuckets nanoseconds have a
// bucket each, and every power of two above is split into subBuckets equal
// parts, so a bucket is never wider than 1/subBuckets of its values (0.8 %)
// and its midpoint is within 0.4 % of any value in it. It covers every
// non-negative int64 in (64 - subBits) * subBuckets counters (about 58 KiB).
const (
	subBits    = 7
	subBuckets = 1 << subBits
	numBuckets = (64 - subBits) * subBuckets
)

// histogram records durations. It is not safe for concurrent use: each
// worker keeps its own and they are merged at the end.
type histogram struct {
	counts   []uint64
	n        uint64
	sum      float64 // nanoseconds
	min, max int64
}

func newHistogram() *histogram {
	return &histogram{counts: make([]uint64, numBuckets), min: math.MaxInt64}
}

// bucketOf returns the bucket index of v (v >= 0).
func bucketOf(v int64) int {
	u := uint64(v)
	if u < subBuckets {
		return int(u)
	}
	shift := bits.Len64(u) - subBits - 1 // u>>shift is in [subBuckets, 2*subBuckets)
	return (shift+1)*subBuckets + int(u>>shift) - subBuckets
}

// bucketRange returns the smallest and largest value bucket i holds.
func bucketRange(i int) (lo, hi int64) {
	if i < subBuckets {
		return int64(i), int64(i)
	}
	shift := i/subBuckets - 1
	mant := uint64(i%subBuckets + subBuckets)
	lo64 := mant << shift
	hi64 := lo64 + (uint64(1) << shift) - 1
	if hi64 > math.MaxInt64 {
		hi64 = math.MaxInt64
	}
	return int64(lo64), int64(hi64)
}

// record adds one duration; negative ones count as 0.
func (h *histogram) record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

// merge adds o's records to h.
func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// quantile returns the smallest recorded value v (to the bucket's
// precision) such that at least q of the records are <= v: the midpoint of
// the bucket holding the record of rank ceil(q*n), clamped to the exact
// minimum and maximum. It returns 0 for an empty histogram.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			mid := lo + (hi-lo)/2
			return time.Duration(min(max(mid, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// latency summarizes h.
func (h *histogram) latency() Latency {
	if h.n == 0 {
		return Latency{}
	}
	return Latency{
		Min:  time.Duration(h.min),
		Mean: time.Duration(h.sum / float64(h.n)),
		P50:  h.quantile(0.50),
		P90:  h.quantile(0.90),
		P99:  h.quantile(0.99),
		P999: h.quantile(0.999),
		Max:  time.Duration(h.max),
	}
}
