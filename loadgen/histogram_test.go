package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsCoverEveryValue(t *testing.T) {
	// Buckets are contiguous from 0 to MaxInt64, and each is at most
	// 1/subBuckets of its lowest value wide.
	prevHi := int64(-1)
	for i := range numBuckets {
		lo, hi := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d: starts at %d, want %d", i, lo, prevHi+1)
		}
		if lo >= subBuckets && float64(hi-lo+1) > float64(lo)/subBuckets {
			t.Fatalf("bucket %d: [%d, %d] is wider than 1/%d of %d", i, lo, hi, subBuckets, lo)
		}
		prevHi = hi
	}
	if prevHi != math.MaxInt64 {
		t.Fatalf("the last bucket ends at %d, want MaxInt64", prevHi)
	}
	r := rand.New(rand.NewPCG(1, 2))
	values := []int64{0, 1, 127, 128, 129, 255, 256, 1 << 40, math.MaxInt64, math.MaxInt64 - 1}
	for range 10000 {
		values = append(values, r.Int64N(math.MaxInt64>>r.IntN(62)))
	}
	for _, v := range values {
		i := bucketOf(v)
		if lo, hi := bucketRange(i); v < lo || v > hi {
			t.Fatalf("value %d: bucket %d holds [%d, %d]", v, i, lo, hi)
		}
	}
}

func TestQuantilesAgainstExact(t *testing.T) {
	tests := []struct {
		name string
		gen  func(r *rand.Rand) time.Duration
	}{
		{"log-normal around 2ms", func(r *rand.Rand) time.Duration {
			return time.Duration(2e6 * math.Exp(r.NormFloat64()))
		}},
		{"uniform 0-100µs", func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(100_000)) }},
		{"bimodal with a 1s tail", func(r *rand.Rand) time.Duration {
			if r.IntN(100) == 0 {
				return time.Second + time.Duration(r.Int64N(int64(time.Second)))
			}
			return time.Duration(500_000 + r.Int64N(100_000))
		}},
		{"tiny values", func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(200)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, 4))
			h := newHistogram()
			var all []time.Duration
			var sum float64
			for range 100_000 {
				d := tc.gen(r)
				h.record(d)
				all = append(all, d)
				sum += float64(d)
			}
			slices.Sort(all)
			exact := func(q float64) time.Duration { return all[int(math.Ceil(q*float64(len(all))))-1] }
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
				got, want := h.quantile(q), exact(q)
				if diff := math.Abs(float64(got - want)); diff > float64(want)/100 && diff > 1 {
					t.Errorf("quantile %v: got %v, want %v within 1%%", q, got, want)
				}
			}
			l := h.latency()
			if l.Min != all[0] || l.Max != all[len(all)-1] {
				t.Errorf("min, max: got %v, %v, want %v, %v", l.Min, l.Max, all[0], all[len(all)-1])
			}
			if want := time.Duration(sum / float64(len(all))); l.Mean-want > 1 || want-l.Mean > 1 {
				t.Errorf("mean: got %v, want %v", l.Mean, want)
			}
		})
	}
}

func TestHistogramMergeAndEdges(t *testing.T) {
	a, b, all := newHistogram(), newHistogram(), newHistogram()
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 5000 {
		d := time.Duration(r.Int64N(int64(50 * time.Millisecond)))
		all.record(d)
		if i%3 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	a.merge(b)
	if a.latency() != all.latency() || a.n != all.n || !slices.Equal(a.counts, all.counts) {
		t.Errorf("merged: got %+v, want %+v", a.latency(), all.latency())
	}
	empty := newHistogram()
	if got := empty.latency(); got != (Latency{}) {
		t.Errorf("empty: got %+v, want zero", got)
	}
	a.merge(empty)
	if a.latency() != all.latency() {
		t.Errorf("merging an empty histogram changed %+v", a.latency())
	}
	neg := newHistogram()
	neg.record(-time.Second)
	if got := neg.latency(); got.Min != 0 || got.Max != 0 || got.P50 != 0 {
		t.Errorf("a negative duration: got %+v, want it counted as 0", got)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := newHistogram()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.record(time.Duration(i * 997))
	}
}
