package replay

import (
	"strconv"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/nonce"
)

func TestNewMemoryOptions(t *testing.T) {
	tests := []struct {
		opts   MemoryOptions
		window time.Duration
		budget int64
		shards int
	}{
		{MemoryOptions{}, nonce.DefaultWindow, DefaultMaxMemory, DefaultShards},
		{MemoryOptions{Window: -1, MaxMemory: -1, Shards: -1}, nonce.DefaultWindow, DefaultMaxMemory, DefaultShards},
		{MemoryOptions{Window: time.Second, MaxMemory: 5 << 20, Shards: 1}, time.Second, 5 << 20, 1},
		{MemoryOptions{Shards: 2}, nonce.DefaultWindow, DefaultMaxMemory, 2},
		{MemoryOptions{Shards: 5}, nonce.DefaultWindow, DefaultMaxMemory, 8},
		{MemoryOptions{Shards: 64}, nonce.DefaultWindow, DefaultMaxMemory, 64},
		{MemoryOptions{Shards: 65}, nonce.DefaultWindow, DefaultMaxMemory, 128},
		{MemoryOptions{Shards: 1 << 20}, nonce.DefaultWindow, DefaultMaxMemory, maxShards},
	}
	for _, tt := range tests {
		g := NewMemory(tt.opts)
		if time.Duration(g.window) != tt.window || g.MaxMemory() != tt.budget || len(g.shards) != tt.shards || g.mask != uint64(tt.shards-1) {
			t.Errorf("NewMemory(%+v): window %v, budget %d, %d shards (mask %#x); want %v, %d, %d",
				tt.opts, time.Duration(g.window), g.MaxMemory(), len(g.shards), g.mask, tt.window, tt.budget, tt.shards)
		}
		if got, want := g.MemoryBytes(), fixedBytes(tt.shards, tt.window); got != want {
			t.Errorf("NewMemory(%+v): holds %d bytes before any nonce, want its fixed part %d", tt.opts, got, want)
		}
	}
}

func TestMemoryKeysDifferPerGuard(t *testing.T) {
	a, b := NewMemory(MemoryOptions{}), NewMemory(MemoryOptions{})
	if a.key == b.key {
		t.Fatal("two guards share a hashing key")
	}
	s := nonce.Scope{Who: [32]byte{9}, Kind: nonce.KindBody}
	n := []byte("1_a")
	ha, _ := a.hash(s, n)
	hb, _ := b.hash(s, n)
	if ha == hb {
		t.Error("the same (scope, nonce) hashes alike under two keys")
	}
	// The scope is fixed-length, so moving a byte between it and the nonce
	// gives another input.
	s2 := s
	s2.Kind = nonce.KindHeader
	h1, _ := a.hash(s, n)
	h2, _ := a.hash(s2, n)
	if h1 == h2 {
		t.Error("kinds hash alike")
	}
}

// TestMemoryClasses checks the table classes: growing, multiples of 8, each at
// most 1.19 times the one before (so a chosen table is at least 63 % full),
// and classFor picking the smallest that holds n at the fill target.
func TestMemoryClasses(t *testing.T) {
	for k := 1; k < len(classes); k++ {
		prev, c := classes[k-1], classes[k]
		if c <= prev || c%8 != 0 || float64(c) > 1.1875*float64(prev)+8 {
			t.Fatalf("class %d: %d slots after %d", k, c, prev)
		}
	}
	if classes[len(classes)-1] < maxSlots {
		t.Fatalf("the largest class has %d slots, want at least %d", classes[len(classes)-1], maxSlots)
	}
	for _, n := range []int{0, 1, 12, 13, 1000, 12345, 1 << 20} {
		k := classFor(n)
		if classes[k]*3/4 < n || (k > 0 && classes[k-1]*3/4 >= n) {
			t.Errorf("classFor(%d) = %d (%d slots), not the smallest holding %d at 3/4", n, k, classes[k], n)
		}
	}
}

// TestMemoryTableProbing fills a table to its growth limit with hashes whose
// homes collide and wrap around its end, and finds every one.
func TestMemoryTableProbing(t *testing.T) {
	tab := make([]uint64, classes[3])
	var in []uint64
	for i := uint64(1); !full(len(tab), len(in), 1); i++ {
		h := ^uint64(0) - i // homes at the very end: probes wrap to slot 0
		tableAdd(tab, h)
		in = append(in, h)
	}
	for _, h := range in {
		if !tableHas(tab, h) {
			t.Fatalf("a table lost %#x", h)
		}
	}
	if tableHas(tab, 12345) {
		t.Error("a table holds a hash never added")
	}
	if tab[0] == 0 {
		t.Error("no probe wrapped around the table's end")
	}
}

// TestMemoryTablesReused checks that buckets recycle their tables: a guard fed
// a steady 200 nonces a second for five windows, swept as Run would,
// holds a flat amount of memory once its first window is full, at no more
// than 16 bytes a nonce besides its fixed part; after traffic stops a
// Sweep forgets everything and the next gives every kept table back.
// (BenchmarkMemorySteadyRate does the same at fibergate's own rates and window.)
func TestMemoryTablesReused(t *testing.T) {
	const t0, sec, rate, warm = int64(1 << 60), int64(time.Second), 200, 80
	g := NewMemory(MemoryOptions{Window: 60 * time.Second, Shards: 2})
	fixed := g.MemoryBytes()
	var held []int64
	now := t0
	for i := range 300 * rate {
		now = t0 + int64(i)*sec/rate
		if err := g.Remember(nonce.Scope{}, []byte(strconv.Itoa(i)+"_x"), now, now); err != nil {
			t.Fatalf("nonce %d: %v", i, err)
		}
		if i%(5*rate) == 5*rate-1 {
			g.Sweep(now)
		}
		if i%rate == rate-1 {
			held = append(held, g.MemoryBytes())
			if s := len(held); s > warm {
				if per := float64(held[s-1]-fixed) / float64(g.Len()); per > 16 {
					t.Errorf("after %d s: %.1f bytes per nonce, want at most 16", s, per)
				}
			}
		}
	}
	lo, hi := held[warm], held[warm]
	for _, h := range held[warm:] {
		lo, hi = min(lo, h), max(hi, h)
	}
	if float64(hi) > 1.1*float64(lo) {
		t.Errorf("memory held in steady state ranged from %d to %d bytes, want it flat", lo, hi)
	}
	n := g.Len()
	if got := g.Sweep(now + 62*sec); got != n || g.Len() != 0 {
		t.Errorf("Sweep after traffic stopped forgot %d of %d nonces, left %d", got, n, g.Len())
	}
	g.Sweep(now + 62*sec)
	if got := g.MemoryBytes(); got != fixed {
		t.Errorf("after two sweeps with no traffic the guard holds %d bytes, want its fixed %d", got, fixed)
	}
}

// TestMemoryRingSlotTakenAfterClockStepBack: nonces stamped ahead fill buckets
// that, once the clock steps back by more than the ring spans, share a slot
// with the buckets of the clock's new time. They are not forgotten early:
// the new nonce is refused as nonce.ErrFull instead.
func TestMemoryRingSlotTakenAfterClockStepBack(t *testing.T) {
	const t0 = int64(1 << 60)
	w := 10 * time.Second
	g := NewMemory(MemoryOptions{Window: w, Shards: 1})
	future := t0 + int64(w)
	if err := g.Remember(nonce.Scope{}, []byte("a_1"), future, t0); err != nil {
		t.Fatal(err)
	}
	// A timestamp whose bucket is one ring length before future's.
	back := future - g.ring*bucketSpan
	now := back
	if err := g.Remember(nonce.Scope{}, []byte("b_1"), back, now); err != nonce.ErrFull {
		t.Fatalf("Remember in the slot of a live bucket = %v, want nonce.ErrFull", err)
	}
	if err := g.Remember(nonce.Scope{}, []byte("a_1"), future, future); err != nonce.ErrReplayed {
		t.Fatalf("the earlier nonce after the clock returned = %v, want nonce.ErrReplayed", err)
	}
}
