package replay

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/fibergate/fibergate/crypto/nonce"
)

// pool holds a Memory to its budget. Every table a bucket uses comes from
// here and goes back here when the bucket expires or grows; a table given
// back is kept for the next bucket of its class, so a guard at a steady
// rate allocates nothing and leaves the garbage collector nothing to do
// (a Go heap that churned through the guard's tables would grow to twice
// their size between collections). Kept tables that no bucket needed
// between two trims (those below the low-water mark of their class's list)
// are given back to the runtime.
//
// held counts the bytes of every table in use or kept, plus the guard's
// fixed part (its rings of bucket headers): all the memory the guard
// holds, which never exceeds the budget.
type pool struct {
	budget int64
	held   atomic.Int64 // written under mu; read anywhere

	mu   sync.Mutex
	free [][][]uint64 // by class: tables given back, not yet taken again
	low  []int        // by class: the shortest len(free[k]) since the last trim
}

func newPool(budget, fixed int64) *pool {
	m := &pool{
		budget: budget,
		free:   make([][][]uint64, len(classes)),
		low:    make([]int, len(classes)),
	}
	m.held.Store(fixed)
	return m
}

// get returns a zeroed table of class k, or nil when the budget cannot
// hold one more.
func (m *pool) get(k uint8) []uint64 {
	m.mu.Lock()
	if l := m.free[k]; len(l) > 0 {
		t := l[len(l)-1]
		l[len(l)-1] = nil
		m.free[k] = l[:len(l)-1]
		m.low[k] = min(m.low[k], len(l)-1)
		m.mu.Unlock()
		clear(t)
		return t
	}
	size := int64(classes[k]) * 8
	held := m.held.Load()
	// Kept tables of other classes make room before a refusal.
	for j := len(m.free) - 1; j >= 0 && held+size > m.budget; j-- {
		for len(m.free[j]) > 0 && held+size > m.budget {
			l := m.free[j]
			l[len(l)-1] = nil
			m.free[j] = l[:len(l)-1]
			m.low[j] = min(m.low[j], len(l)-1)
			held -= int64(classes[j]) * 8
		}
	}
	if held+size > m.budget {
		m.held.Store(held)
		m.mu.Unlock()
		return nil
	}
	m.held.Store(held + size)
	m.mu.Unlock()
	return make([]uint64, classes[k])
}

// put keeps t, a table of class k no longer in use, for a later get.
func (m *pool) put(t []uint64, k uint8) {
	m.mu.Lock()
	m.free[k] = append(m.free[k], t)
	m.mu.Unlock()
}

// trim gives back to the runtime the kept tables no bucket needed since
// the last trim (as many of each class as its list never went below), and
// returns how many bytes that freed.
func (m *pool) trim() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var freed int64
	for k, l := range m.free {
		if n := m.low[k]; n > 0 {
			freed += int64(n * classes[k] * 8)
			clear(l[len(l)-n:])
			l = l[:len(l)-n]
			if len(l) == 0 {
				l = nil // let the list's own array go too
			}
			m.free[k] = l
		}
		m.low[k] = len(m.free[k])
	}
	m.held.Add(-freed)
	return freed
}

// Sizing. A Memory's fixed part is its shards and their rings of bucket
// headers; the rest of its budget is tables. The figures below bound what
// a nonce costs at a steady rate, for RateCovered and MinMemory.
const (
	// bucketBits sets a bucket's span: 2^30 ns, about 1.07 s. A power of
	// two makes a timestamp's bucket a shift, exact for every int64.
	bucketBits = 30
	bucketSpan = 1 << bucketBits
	// planBytesPerNonce is what RateCovered budgets for each remembered
	// nonce: 8 bytes a slot at the lowest steady load, 0.63 (a table
	// chosen for the rate of the second before it, rounded up to a
	// class), is 12.7 bytes; 14 leaves room for the tables kept for
	// reuse and a table growing within its second.
	planBytesPerNonce = 14
)

// ringLen returns the buckets a shard's ring needs for window: every
// timestamp a Memory accepts at one instant, now±window, falls in at most
// (2×window)/span + 2 buckets, and each of them stays until its last
// nanosecond plus window has passed.
func ringLen(window time.Duration) int {
	return int(2*int64(window)>>bucketBits) + 3
}

// fixedBytes returns the memory a Memory with shards shards and window
// holds before it remembers anything.
func fixedBytes(shards int, window time.Duration) int64 {
	return int64(shards) * (int64(unsafe.Sizeof(shard{})) + int64(ringLen(window))*int64(unsafe.Sizeof(bucket{})))
}

// lifetime is how long, on average, a nonce stamped at the moment it
// arrives stays in a Memory: the window, plus half a bucket (its bucket
// lasts until the bucket's last nanosecond leaves the window), plus up to
// a bucket more until the shard next starts a bucket and drops it.
func lifetime(window time.Duration) time.Duration {
	return window + 2*bucketSpan
}

// RateCovered returns how many nonces a second a Memory with the budget
// maxMemory (bytes) and window remembers at a steady rate without
// refusing one as nonce.ErrFull, when nonces are stamped as they are sent
// (as every Fiber client stamps them). Each Fiber request records two, its
// header nonce and its body nonce, so it serves RateCovered/2 requests a
// second. The figure is conservative: BenchmarkMemorySteadyRate measures a
// Memory at it for three windows without a refusal.
func RateCovered(maxMemory int64, window time.Duration) float64 {
	if window <= 0 {
		window = nonce.DefaultWindow
	}
	avail := maxMemory - fixedBytes(DefaultShards, window)
	if avail <= 0 {
		return 0
	}
	return float64(avail) / planBytesPerNonce / lifetime(window).Seconds()
}

// MinMemory is the smallest budget a Memory with window works with: its
// fixed part and room for one small table in every bucket of every shard,
// rounded up to a MiB.
func MinMemory(window time.Duration) int64 {
	if window <= 0 {
		window = nonce.DefaultWindow
	}
	n := fixedBytes(DefaultShards, window) + int64(DefaultShards*ringLen(window)*minSlots*8)
	return (n + 1<<20 - 1) &^ (1<<20 - 1)
}
