package nonce_test

import (
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/nonce"
)

func BenchmarkParse(b *testing.B) {
	n := []byte("1795640127884867857_P3gzXCkH5t")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := nonce.Parse(n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRemember records fresh nonces from parallel goroutines while the
// clock advances 10 µs per nonce, so with a 1 s window about 100,000 entries
// are live, and sweeps as Run would (every 65,536 nonces), so its cost is
// included.
func BenchmarkRemember(b *testing.B) {
	const step = int64(10 * time.Microsecond)
	g := nonce.NewGuard(nonce.Options{Window: time.Second})
	var clock atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 0, nonce.MaxLen)
		for pb.Next() {
			i := clock.Add(1)
			now := t0 + i*step
			buf = append(strconv.AppendInt(buf[:0], now, 10), "_P3gzXCkH5t"...)
			if err := g.Remember(alice, buf, now, now); err != nil {
				b.Fatal(err)
			}
			if i%(1<<16) == 0 {
				g.Sweep(now)
			}
		}
	})
}

// BenchmarkMemoryPerMillion records 1,000,000 nonces in a default guard and
// reports the live heap they take, per entry, after garbage collection.
func BenchmarkMemoryPerMillion(b *testing.B) {
	const entries = 1_000_000
	buf := make([]byte, 0, nonce.MaxLen)
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		g := nonce.NewGuard(nonce.Options{})
		for i := range entries {
			buf = append(strconv.AppendInt(buf[:0], t0, 10), '_')
			buf = strconv.AppendInt(buf, int64(i), 36)
			if err := g.Remember(alice, buf, t0, t0); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if g.Len() != entries {
			b.Fatalf("Len() = %d, want %d", g.Len(), entries)
		}
		runtime.KeepAlive(g)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/entries, "bytes/entry")
	}
}
