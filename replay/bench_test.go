package replay

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/nonce"
	"github.com/fibergate/fibergate/internal/redistest"
)

// BenchmarkRemember compares what a request pays to record one nonce: the
// in-process Memory, the shared guard's plain SET NX, and SET NX with
// the key store's generation read in the same script, which is what serve
// runs. "serial" is the latency of one call; "parallel" the throughput of
// all cores.
func BenchmarkRemember(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	// The memory guard is swept as serve's Run would, so it never fills.
	mem := NewMemory(MemoryOptions{})
	guards := []struct {
		name string
		g    interface {
			Remember(nonce.Scope, []byte, int64, int64) error
		}
		sweep func(now int64) int
	}{
		{"memory", mem, mem.Sweep},
		{"redis", newRedis(b, newClient(b, srv), RedisOptions{}), nil},
		{"redis-sync", newRedis(b, newClient(b, srv), RedisOptions{Sync: &sync0{key: "fibergate:keygen"}}), nil},
	}
	var seq atomic.Int64
	for _, g := range guards {
		b.Run(g.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, nonce.MaxLen)
			for b.Loop() {
				now := time.Now().UnixNano()
				i := seq.Add(1)
				buf = strconv.AppendInt(append(strconv.AppendInt(buf[:0], now, 10), '_'), i, 36)
				if err := g.g.Remember(alice, buf, now, now); err != nil {
					b.Fatal(err)
				}
				if g.sweep != nil && i%(1<<16) == 0 {
					g.sweep(now + int64(2*nonce.DefaultWindow))
				}
			}
		})
		b.Run(g.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 0, nonce.MaxLen)
				for pb.Next() {
					now := time.Now().UnixNano()
					i := seq.Add(1)
					buf = strconv.AppendInt(append(strconv.AppendInt(buf[:0], now, 10), '_'), i, 36)
					if err := g.g.Remember(alice, buf, now, now); err != nil {
						b.Fatal(err)
					}
					if g.sweep != nil && i%(1<<16) == 0 {
						g.sweep(now + int64(2*nonce.DefaultWindow))
					}
				}
			})
		})
	}
}

// BenchmarkRememberPair is what an encrypted POST costs the replay guard:
// its header and inner nonce together (one round trip for Redis).
func BenchmarkRememberPair(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	mem := NewMemory(MemoryOptions{})
	guards := []struct {
		name string
		g    interface {
			RememberPair(a, b nonce.Record, now int64) (int, error)
		}
		sweep func(now int64) int
	}{
		{"memory", mem, mem.Sweep},
		{"redis-sync", newRedis(b, newClient(b, srv), RedisOptions{Sync: &sync0{key: "fibergate:keygen"}}), nil},
	}
	var seq atomic.Int64
	body := nonce.Scope{Who: alice.Who, Kind: nonce.KindBody}
	for _, g := range guards {
		b.Run(g.name, func(b *testing.B) {
			b.ReportAllocs()
			h := make([]byte, 0, nonce.MaxLen)
			d := make([]byte, 0, nonce.MaxLen)
			for b.Loop() {
				now := time.Now().UnixNano()
				i := seq.Add(1)
				h = strconv.AppendInt(append(strconv.AppendInt(h[:0], now, 10), '_'), i, 36)
				d = strconv.AppendInt(append(strconv.AppendInt(d[:0], now, 10), 'b'), i, 36)
				if _, err := g.g.RememberPair(nonce.Record{Scope: alice, Nonce: h, TS: now}, nonce.Record{Scope: body, Nonce: d, TS: now}, now); err != nil {
					b.Fatal(err)
				}
				if g.sweep != nil && i%(1<<16) == 0 {
					g.sweep(now + int64(2*nonce.DefaultWindow))
				}
			}
		})
	}
}
