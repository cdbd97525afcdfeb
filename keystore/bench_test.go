package keystore

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func BenchmarkGet(b *testing.B) {
	const validators, perValidator = 1000, 4
	m := NewMemory(MemoryOptions{})
	key := newKey(b, "bench")
	type ref struct {
		v [32]byte
		u []byte
	}
	refs := make([]ref, 0, validators*perValidator)
	for i := range validators {
		for j := range perValidator {
			u := fmt.Sprintf("%064x", i*perValidator+j)
			m.Put(&Entry{Validator: validator(i), UUID: u, Key: key}, t0)
			refs = append(refs, ref{validator(i), []byte(u)})
		}
	}
	var next atomic.Uint32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(7919))
		for pb.Next() {
			r := refs[i%len(refs)]
			if _, ok := get(m, r.v, r.u, t0); !ok {
				b.Fatal("missing")
			}
			i++
		}
	})
}

func BenchmarkPut(b *testing.B) {
	m := NewMemory(MemoryOptions{})
	key := newKey(b, "bench")
	vs := make([][32]byte, 1000)
	for i := range vs {
		vs[i] = validator(i)
	}
	uuids := make([]string, 8)
	for i := range uuids {
		uuids[i] = fmt.Sprintf("%064x", i)
	}
	e := &Entry{Key: key}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e.Validator, e.UUID = vs[i%len(vs)], uuids[(i/len(vs))%len(uuids)]
		if err := m.Put(e, t0.Add(time.Duration(i))); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
