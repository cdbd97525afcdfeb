package nonce

import (
	"strconv"
	"testing"
	"time"
)

func TestNewGuardOptions(t *testing.T) {
	tests := []struct {
		opts   Options
		window time.Duration
		budget int64
		shards int
	}{
		{Options{}, DefaultWindow, DefaultMaxMemory, DefaultShards},
		{Options{Window: -1, MaxMemory: -1, Shards: -1}, DefaultWindow, DefaultMaxMemory, DefaultShards},
		{Options{Window: time.Second, MaxMemory: 5 << 20, Shards: 1}, time.Second, 5 << 20, 1},
		{Options{Shards: 2}, DefaultWindow, DefaultMaxMemory, 2},
		{Options{Shards: 5}, DefaultWindow, DefaultMaxMemory, 8},
		{Options{Shards: 64}, DefaultWindow, DefaultMaxMemory, 64},
		{Options{Shards: 65}, DefaultWindow, DefaultMaxMemory, 128},
		{Options{Shards: 1 << 20}, DefaultWindow, DefaultMaxMemory, maxShards},
	}
	for _, tt := range tests {
		g := NewGuard(tt.opts)
		if time.Duration(g.window) != tt.window || g.MaxMemory() != tt.budget || len(g.shards) != tt.shards || g.mask != uint64(tt.shards-1) {
			t.Errorf("NewGuard(%+v): window %v, budget %d, %d shards (mask %#x); want %v, %d, %d",
				tt.opts, time.Duration(g.window), g.MaxMemory(), len(g.shards), g.mask, tt.window, tt.budget, tt.shards)
		}
		if got, want := g.MemoryBytes(), fixedBytes(tt.shards, tt.window); got != want {
			t.Errorf("NewGuard(%+v): holds %d bytes before any nonce, want its fixed part %d", tt.opts, got, want)
		}
	}
}

func TestGuardKeysDifferPerGuard(t *testing.T) {
	a, b := NewGuard(Options{}), NewGuard(Options{})
	if a.key == b.key {
		t.Fatal("two guards share a hashing key")
	}
	s := Scope{Who: [32]byte{9}, Kind: KindBody}
	n := []byte("1_a")
	ha, _ := a.hash(s, n)
	hb, _ := b.hash(s, n)
	if ha == hb {
		t.Error("the same (scope, nonce) hashes alike under two keys")
	}
	// The scope is fixed-length, so moving a byte between it and the nonce
	// gives another input.
	s2 := s
	s2.Kind = KindHeader
	h1, _ := a.hash(s, n)
	h2, _ := a.hash(s2, n)
	if h1 == h2 {
		t.Error("kinds hash alike")
	}
}

// TestClasses checks the table classes: growing, multiples of 8, each at
// most 1.19 times the one before (so a chosen table is at least 63 % full),
// and classFor picking the smallest that holds n at the fill target.
func TestClasses(t *testing.T) {
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

// TestTableProbing fills a table to its growth limit with hashes whose
// homes collide and wrap around its end, and finds every one.
func TestTableProbing(t *testing.T) {
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

// TestTablesReused checks that buckets recycle their tables: a guard fed
// a steady 200 nonces a second for five windows, swept as Run would,
// holds a flat amount of memory once its first window is full, at no more
// than 16 bytes a nonce besides its fixed part; after traffic stops a
// Sweep forgets everything and the next gives every kept table back.
// (BenchmarkSteadyRate does the same at fibergate's own rates and window.)
func TestTablesReused(t *testing.T) {
	const t0, sec, rate, warm = int64(1 << 60), int64(time.Second), 200, 80
	g := NewGuard(Options{Window: 60 * time.Second, Shards: 2})
	fixed := g.MemoryBytes()
	var held []int64
	now := t0
	for i := range 300 * rate {
		now = t0 + int64(i)*sec/rate
		if err := g.Remember(Scope{}, []byte(strconv.Itoa(i)+"_x"), now, now); err != nil {
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

// TestRingSlotTakenAfterClockStepBack: nonces stamped ahead fill buckets
// that, once the clock steps back by more than the ring spans, share a slot
// with the buckets of the clock's new time. They are not forgotten early:
// the new nonce is refused as ErrFull instead.
func TestRingSlotTakenAfterClockStepBack(t *testing.T) {
	const t0 = int64(1 << 60)
	w := 10 * time.Second
	g := NewGuard(Options{Window: w, Shards: 1})
	future := t0 + int64(w)
	if err := g.Remember(Scope{}, []byte("a_1"), future, t0); err != nil {
		t.Fatal(err)
	}
	// A timestamp whose bucket is one ring length before future's.
	back := future - g.ring*bucketSpan
	now := back
	if err := g.Remember(Scope{}, []byte("b_1"), back, now); err != ErrFull {
		t.Fatalf("Remember in the slot of a live bucket = %v, want ErrFull", err)
	}
	if err := g.Remember(Scope{}, []byte("a_1"), future, future); err != ErrReplayed {
		t.Fatalf("the earlier nonce after the clock returned = %v, want ErrReplayed", err)
	}
}
