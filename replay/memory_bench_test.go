package replay_test

import (
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/nonce"
	"github.com/fibergate/fibergate/replay"
)

// BenchmarkMemoryRemember records fresh nonces from parallel goroutines while the
// clock advances 10 µs per nonce (100,000 nonces a second), so with the
// default window about 12 million would be live: the default budget
// covers a third of that, so the guard is swept, as Run would, as if a
// window passed every 2^20 nonces.
func BenchmarkMemoryRemember(b *testing.B) {
	const step = int64(10 * time.Microsecond)
	g := replay.NewMemory(replay.MemoryOptions{})
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
			if i%(1<<20) == 0 {
				g.Sweep(now + int64(nonce.DefaultWindow) + replay.BucketSpan)
			}
		}
	})
}

// BenchmarkMemoryRememberPair is what an encrypted request costs: its header and
// body nonces, recorded together.
func BenchmarkMemoryRememberPair(b *testing.B) {
	const step = int64(10 * time.Microsecond)
	g := replay.NewMemory(replay.MemoryOptions{})
	var clock atomic.Int64
	body := nonce.Scope{Who: alice.Who, Kind: nonce.KindBody}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		h := make([]byte, 0, nonce.MaxLen)
		bd := make([]byte, 0, nonce.MaxLen)
		for pb.Next() {
			i := clock.Add(1)
			now := t0 + i*step
			h = append(strconv.AppendInt(h[:0], now, 10), "_P3gzXCkH5t"...)
			bd = append(strconv.AppendInt(bd[:0], now, 10), "_Qx8rT2mLw0"...)
			if _, err := g.RememberPair(nonce.Record{Scope: alice, Nonce: h, TS: now}, nonce.Record{Scope: body, Nonce: bd, TS: now}, now); err != nil {
				b.Fatal(err)
			}
			if i%(1<<20) == 0 {
				g.Sweep(now + int64(nonce.DefaultWindow) + replay.BucketSpan)
			}
		}
	})
}

// BenchmarkMemorySteadyRate plays fibergate's own load on a default guard (64 MiB,
// 120 s window) on a simulated clock: requests at a fixed rate, each
// recording its header and body nonce as the proxy does (RememberPair,
// both stamped at the request's time), for three windows, swept every 5 s
// as serve's Run does. It fails if any request is refused, and reports,
// once the window is full:
//
//   - bytes/nonce: the memory the guard holds (tables in use and kept for
//     reuse, and its fixed part) per remembered nonce;
//   - heap-bytes/nonce: the growth of the Go heap, after a collection, per
//     remembered nonce: what the process really pays;
//   - peak-MiB: the most memory the guard held, against its 64 MiB budget.
//
// The rates: 1,000 requests a second; 10,000 and 12,000 (fibergate's
// measured peak on the 2-core benchmark machine, BENCHMARKS.md, and a
// fifth more); and the rate the default budget covers by RateCovered.
func BenchmarkMemorySteadyRate(b *testing.B) {
	covered := int(replay.RateCovered(replay.DefaultMaxMemory, nonce.DefaultWindow) / 2)
	for _, rate := range []int{1_000, 10_000, 12_000, covered} {
		name := strconv.Itoa(rate) + "req/s"
		if rate == covered {
			name = "covered=" + name
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				steadyRate(b, rate, 3*nonce.DefaultWindow)
			}
		})
	}
}

func steadyRate(b *testing.B, rate int, length time.Duration) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g := replay.NewMemory(replay.MemoryOptions{})
	step := int64(time.Second) / int64(rate)
	body := nonce.Scope{Who: alice.Who, Kind: nonce.KindBody}
	h := make([]byte, 0, nonce.MaxLen)
	bd := make([]byte, 0, nonce.MaxLen)
	var peak int64
	nextSweep := t0 + int64(5*time.Second)
	requests := int64(length) / step
	for i := range requests {
		now := t0 + i*step
		h = strconv.AppendInt(append(strconv.AppendInt(h[:0], now, 10), '_', 'h'), i, 36)
		bd = strconv.AppendInt(append(strconv.AppendInt(bd[:0], now, 10), '_', 'b'), i, 36)
		if which, err := g.RememberPair(nonce.Record{Scope: alice, Nonce: h, TS: now}, nonce.Record{Scope: body, Nonce: bd, TS: now}, now); err != nil {
			b.Fatalf("request %d at %v (%d req/s): nonce %d refused: %v (guard holds %d nonces in %d bytes)",
				i, time.Duration(i*step), rate, which, err, g.Len(), g.MemoryBytes())
		}
		if now >= nextSweep {
			g.Sweep(now)
			nextSweep += int64(5 * time.Second)
		}
		peak = max(peak, g.MemoryBytes())
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	n := float64(g.Len())
	b.ReportMetric(float64(g.MemoryBytes())/n, "bytes/nonce")
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "heap-bytes/nonce")
	b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
	b.ReportMetric(n, "nonces")
	runtime.KeepAlive(g)
}
