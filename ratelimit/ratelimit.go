package ratelimit

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Rate is a sustained rate with a burst allowance.
type Rate struct {
	// PerSecond is the sustained rate; 0 means no limit.
	PerSecond float64
	// Burst is how many may come at once after a quiet spell; at least 1.
	Burst int
}

// Unlimited reports whether r allows everything.
func (r Rate) Unlimited() bool { return !(r.PerSecond > 0) }

// params are a Rate in the units the GCRA works in.
type params struct {
	interval int64 // ns between tokens
	span     int64 // burst tolerance: (burst-1) intervals
}

func (r Rate) params() params {
	if r.Unlimited() {
		return params{}
	}
	interval := int64(math.Max(1, float64(time.Second)/r.PerSecond))
	burst := max(r.Burst, 1)
	return params{interval: interval, span: int64(burst-1) * interval}
}

// cell is the state of one limit: the theoretical arrival time of the next
// request (GCRA), in unix nanoseconds.
type cell struct{ tat atomic.Int64 }

// allow takes one token at time now, or reports how long until one is free.
func (c *cell) allow(p params, now int64) (bool, time.Duration) {
	if p.interval == 0 {
		return true, 0
	}
	for {
		tat := c.tat.Load()
		t := max(tat, now)
		if t-p.span > now {
			return false, time.Duration(t - p.span - now)
		}
		if c.tat.CompareAndSwap(tat, t+p.interval) {
			return true, 0
		}
	}
}

// Limit is one rate limit. It is safe for concurrent use and takes no lock.
type Limit struct {
	p params
	c cell
}

// New returns a limit of rate r.
func New(r Rate) *Limit { return &Limit{p: r.params()} }

// Allow takes one token at now; when none is free it reports how long to
// wait for one.
func (l *Limit) Allow(now time.Time) (bool, time.Duration) {
	return l.c.allow(l.p, now.UnixNano())
}

// Table is a fixed set of limits indexed by a hash of a key, such as a
// client address. Memory is fixed at creation; keys that share a slot share
// a limit, which is rare with enough slots and only ever stricter.
type Table struct {
	p     params
	seed  maphash.Seed
	cells []cell
}

// NewTable returns a table of n slots (rounded up to a power of two) each
// with rate r.
func NewTable(r Rate, n int) *Table {
	size := 1
	for size < n {
		size <<= 1
	}
	return &Table{p: r.params(), seed: maphash.MakeSeed(), cells: make([]cell, size)}
}

// Allow takes one token for key at now.
func (t *Table) Allow(key []byte, now time.Time) (bool, time.Duration) {
	if t.p.interval == 0 {
		return true, 0
	}
	h := maphash.Bytes(t.seed, key)
	return t.cells[h&uint64(len(t.cells)-1)].allow(t.p, now.UnixNano())
}

// Keyed holds one limit per key for a bounded set of keys, such as verified
// validators. Keys are added on first use; past max keys, new keys share one
// overflow limit rather than growing memory.
type Keyed struct {
	p        params
	max      int
	count    atomic.Int64
	overflow cell
	shards   [16]keyedShard
}

type keyedShard struct {
	mu sync.RWMutex
	m  map[[32]byte]*cell
}

// NewKeyed returns per-key limits of rate r for up to max keys.
func NewKeyed(r Rate, max int) *Keyed {
	k := &Keyed{p: r.params(), max: max}
	for i := range k.shards {
		k.shards[i].m = make(map[[32]byte]*cell)
	}
	return k
}

// Allow takes one token for key at now.
func (k *Keyed) Allow(key [32]byte, now time.Time) (bool, time.Duration) {
	if k.p.interval == 0 {
		return true, 0
	}
	s := &k.shards[key[0]%uint8(len(k.shards))]
	s.mu.RLock()
	c := s.m[key]
	s.mu.RUnlock()
	if c == nil {
		c = k.add(s, key)
	}
	return c.allow(k.p, now.UnixNano())
}

func (k *Keyed) add(s *keyedShard, key [32]byte) *cell {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.m[key]; c != nil {
		return c
	}
	if k.count.Load() >= int64(k.max) {
		return &k.overflow
	}
	c := new(cell)
	s.m[key] = c
	k.count.Add(1)
	return c
}

// Len returns the number of keys with their own limit.
func (k *Keyed) Len() int { return int(k.count.Load()) }
