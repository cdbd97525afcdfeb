package replay

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/nonce"
	"github.com/fibergate/fibergate/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// BenchmarkRedisMemoryPerRequest measures what the shared guard keeps in Redis
// for each request: a real redis-server holds one full window of
// encrypted requests (header and body nonce, RememberPair as the proxy
// calls it, stamped at a steady rate over 122 s: the nonce window and the
// clock skew allowance) and the benchmark reports
//
//   - redis-bytes/request: the sum of MEMORY USAGE (SAMPLES 0: every
//     element counted) over every key the guard wrote, per request;
//   - used-memory-bytes/request: the growth of INFO's used_memory, per
//     request: what the server really holds, its key and expiry
//     dictionaries included;
//   - keys: how many keys that took.
//
// Redis' memory for a rate R of requests a second with window W is about
// used-memory-bytes/request × R × (W + 2 s).
func BenchmarkRedisMemoryPerRequest(b *testing.B) {
	for _, rate := range []int{1_000, 4_000, 10_000} {
		b.Run(strconv.Itoa(rate)+"req/s", func(b *testing.B) {
			for b.Loop() {
				memoryPerRequest(b, rate)
			}
		})
	}
}

func memoryPerRequest(b *testing.B, rate int) {
	srv := redistest.Start(b, redistest.Options{})
	c := newClient(b, srv)
	g := newRedis(b, c, RedisOptions{Sync: &sync0{key: "fibergate:keygen"}})
	ctx := context.Background()
	before := usedMemory(b, c)
	const span = 122 * time.Second
	requests := int64(rate) * int64(span/time.Second)
	step := int64(span) / requests
	// The clock is simulated: every request is stamped and offered at its
	// own time within the window, which ends a window after the last one.
	start := time.Now().UnixNano() - int64(span)
	var next atomic.Int64
	var wg sync.WaitGroup
	body := nonce.Scope{Who: alice.Who, Kind: nonce.KindBody}
	for range 16 {
		wg.Go(func() {
			h := make([]byte, 0, nonce.MaxLen)
			d := make([]byte, 0, nonce.MaxLen)
			for {
				i := next.Add(1) - 1
				if i >= requests {
					return
				}
				ts := start + i*step
				h = strconv.AppendInt(append(strconv.AppendInt(h[:0], ts, 10), "_h"...), i, 36)
				d = strconv.AppendInt(append(strconv.AppendInt(d[:0], ts, 10), "_b"...), i, 36)
				if _, err := g.RememberPair(nonce.Record{Scope: alice, Nonce: h, TS: ts}, nonce.Record{Scope: body, Nonce: d, TS: ts}, ts); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	after := usedMemory(b, c)
	var usage, keys int64
	iter := c.Scan(ctx, 0, DefaultPrefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		if iter.Val() == "fibergate:keygen" {
			continue
		}
		n, err := c.MemoryUsage(ctx, iter.Val(), 0).Result()
		if err != nil {
			b.Fatal(err)
		}
		usage += n
		keys++
	}
	if err := iter.Err(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(usage)/float64(requests), "redis-bytes/request")
	b.ReportMetric(float64(after-before)/float64(requests), "used-memory-bytes/request")
	b.ReportMetric(float64(keys), "keys")
}

// usedMemory returns INFO's used_memory.
func usedMemory(b *testing.B, c *redis.Client) int64 {
	b.Helper()
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("INFO memory has no used_memory")
	return 0
}
