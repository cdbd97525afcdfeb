package nonce

import (
	"strconv"
	"testing"
	"time"
)

func TestNewGuardOptions(t *testing.T) {
	tests := []struct {
		opts       Options
		window     time.Duration
		maxEntries int64
		shards     int
	}{
		{Options{}, DefaultWindow, DefaultMaxEntries, DefaultShards},
		{Options{Window: -1, MaxEntries: -1, Shards: -1}, DefaultWindow, DefaultMaxEntries, DefaultShards},
		{Options{Window: time.Second, MaxEntries: 5, Shards: 1}, time.Second, 5, 1},
		{Options{Shards: 2}, DefaultWindow, DefaultMaxEntries, 2},
		{Options{Shards: 5}, DefaultWindow, DefaultMaxEntries, 8},
		{Options{Shards: 64}, DefaultWindow, DefaultMaxEntries, 64},
		{Options{Shards: 65}, DefaultWindow, DefaultMaxEntries, 128},
		{Options{Shards: 1 << 20}, DefaultWindow, DefaultMaxEntries, maxShards},
	}
	for _, tt := range tests {
		g := NewGuard(tt.opts)
		if time.Duration(g.window) != tt.window || g.max != tt.maxEntries || len(g.shards) != tt.shards || g.mask != uint64(tt.shards-1) {
			t.Errorf("NewGuard(%+v): window %v, max %d, %d shards (mask %#x); want %v, %d, %d",
				tt.opts, time.Duration(g.window), g.max, len(g.shards), g.mask, tt.window, tt.maxEntries, tt.shards)
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
	ka, _ := a.hash(s, n)
	kb, _ := b.hash(s, n)
	if ka == kb {
		t.Error("the same (scope, nonce) hashes alike under two keys")
	}
	// The scope is fixed-length, so moving a byte between it and the nonce
	// gives another input.
	s2 := s
	s2.Kind = KindHeader
	k1, _ := a.hash(s, n)
	k2, _ := a.hash(s2, n)
	if k1 == k2 {
		t.Error("kinds hash alike")
	}
}

// TestSweepRebuildsShrunkMap checks that a shard's map is replaced once most
// of it has been swept, so a burst does not keep its memory for ever.
func TestSweepRebuildsShrunkMap(t *testing.T) {
	const t0, sec = int64(1e18), int64(time.Second)
	g := NewGuard(Options{Shards: 1, Window: 10 * time.Second})
	s := &g.shards[0]
	for i := range 2 * rebuildMin {
		ts := t0
		if i%8 == 0 {
			ts = t0 + 5*sec // one in eight lives 5 s longer
		}
		if err := g.Remember(Scope{}, []byte(strconv.Itoa(i)+"_x"), ts, t0); err != nil {
			t.Fatal(err)
		}
	}
	before := s.m
	if got := g.Sweep(t0 + 11*sec); got != 2*rebuildMin*7/8 {
		t.Fatalf("Sweep forgot %d, want %d", got, 2*rebuildMin*7/8)
	}
	if sameMap(before, s.m) {
		t.Error("Sweep kept the old map after forgetting 7/8 of it")
	}
	if s.peak != len(s.m) || len(s.m) != 2*rebuildMin/8 {
		t.Errorf("after rebuild peak %d, len %d; want both %d", s.peak, len(s.m), 2*rebuildMin/8)
	}
	for i := 0; i < 2*rebuildMin; i += 8 {
		if err := g.Remember(Scope{}, []byte(strconv.Itoa(i)+"_x"), t0+5*sec, t0+12*sec); err != ErrReplayed {
			t.Fatalf("replay of a survivor after rebuild = %v, want ErrReplayed", err)
		}
	}
}

func sameMap(a, b map[entryKey]int64) bool {
	const probe = "probe"
	var k entryKey
	copy(k[:], probe)
	a[k] = 1
	_, ok := b[k]
	delete(a, k)
	return ok
}
