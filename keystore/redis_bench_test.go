package keystore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fibergate/fibergate/internal/redistest"
)

// BenchmarkStoreGet compares what a request pays to find its key: the
// memory store, the Redis store from its cache (the usual case), and the
// Redis store reading Redis (a key first seen by this replica, or the cache
// bypassed while the subscription is down). "serial" is the latency of one
// Get; "parallel" the throughput of all cores.
func BenchmarkStoreGet(b *testing.B) {
	const validators, perValidator = 100, 4
	now := time.Now()
	type ref struct {
		v [32]byte
		u []byte
	}
	var refs []ref
	fill := func(b *testing.B, s Store) {
		refs = refs[:0]
		for i := range validators {
			for j := range perValidator {
				u := fmt.Sprintf("%064x", i*perValidator+j)
				if err := s.Put(&Entry{Validator: validator(i), UUID: u, Key: newKey(b, u)}, now); err != nil {
					b.Fatal(err)
				}
				refs = append(refs, ref{validator(i), []byte(u)})
			}
		}
	}
	srv := redistest.Start(b, redistest.Options{})
	sk := storageKey(b)
	newRedis := func(b *testing.B, run bool) *Redis {
		c := testClient(b, srv)
		s, err := NewRedis(RedisOptions{Client: c, StorageKey: sk})
		if err != nil {
			b.Fatal(err)
		}
		if run {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { s.Run(ctx, time.Minute); close(done) }()
			b.Cleanup(func() { cancel(); <-done })
			waitUntil(b, "the subscription", s.Healthy)
		}
		return s
	}
	stores := []struct {
		name string
		make func(b *testing.B) Store
	}{
		{"memory", func(b *testing.B) Store { return NewMemory(MemoryOptions{}) }},
		{"redis-cached", func(b *testing.B) Store { return newRedis(b, true) }},
		{"redis-uncached", func(b *testing.B) Store { return newRedis(b, false) }},
	}
	for _, st := range stores {
		s := st.make(b)
		fill(b, s)
		for _, r := range refs { // warm the cache where there is one
			if _, err := s.Get(r.v, r.u, now); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(st.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := refs[i%len(refs)]
				if _, err := s.Get(r.v, r.u, now); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(st.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					r := refs[i%len(refs)]
					if _, err := s.Get(r.v, r.u, now); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
}
