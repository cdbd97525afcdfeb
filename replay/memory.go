package replay

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fibergate/fibergate/crypto/nonce"
)

// Defaults applied by NewMemory to zero or negative MemoryOptions fields.
const (
	// DefaultMaxMemory is the memory budget of a Memory: 64 MiB. With the
	// default 120 s window it remembers about 39,000 nonces a second at a
	// steady rate (RateCovered), the header and body nonces of about
	// 19,500 requests a second.
	DefaultMaxMemory = 64 << 20
	// DefaultShards is the number of independently locked parts of a
	// Memory.
	DefaultShards = 16
	// DefaultSweepInterval is how often Run sweeps when given no interval.
	DefaultSweepInterval = 5 * time.Second
	// DefaultHorizonLead is how far ahead of the clock MemoryOptions.Horizon
	// keeps the horizon: a restart after a crash refuses the nonces
	// stamped before the last horizon recorded, about this long after the
	// crash for validators whose clocks are right. Run's tick must be well
	// under it (serve ticks every 2 s).
	DefaultHorizonLead = 5 * time.Second
)

// maxShards bounds MemoryOptions.Shards; more would only waste memory.
const maxShards = 1 << 10

// MemoryOptions configures a Memory. Zero or negative fields take the
// defaults.
type MemoryOptions struct {
	// Window is how far a nonce's timestamp may be from the server clock in
	// either direction, and so how long after its timestamp a nonce is
	// remembered. Default nonce.DefaultWindow (120 s).
	Window time.Duration
	// MaxMemory is the most memory, in bytes, the guard holds: its tables
	// of nonces and its fixed part. RateCovered says what rate it serves.
	// Default DefaultMaxMemory (64 MiB).
	MaxMemory int64
	// Shards is the number of independently locked parts, rounded up to a
	// power of two and at most 1024. Default DefaultShards.
	Shards int
	// Floor (unix ns) is where the guard's knowledge begins: a nonce
	// stamped at or before it is refused with nonce.ErrUnverifiable, since
	// an earlier run, or whatever came before this guard, may have
	// accepted it. A fresh guard that replaces another with no saved state sets the
	// moment it starts, or the last horizon the other recorded if later.
	// Zero refuses nothing on this ground.
	Floor int64
	// Horizon, when set, records a horizon durably before the guard relies
	// on it: the guard accepts no nonce stamped after the last horizon it
	// handed to Horizon, raising it first (to the nonce's time plus
	// HorizonLead) when one comes. Run raises it to the clock plus
	// HorizonLead at every tick, so only a nonce stamped about that far
	// ahead of the clock waits for a raise. After a crash, the last horizon recorded
	// bounds the timestamps of every nonce the guard accepted, and is the
	// next guard's Floor. Horizon is called with no lock of a shard held,
	// one call at a time; if it cannot record, it says so its own way (the
	// guard goes on: failing every request for a full disk would be worse
	// than the weaker bound after a crash during it).
	Horizon func(horizon int64)
	// HorizonLead is how far ahead of the clock (or of the nonce that
	// raised it) a horizon is put. Default DefaultHorizonLead.
	HorizonLead time.Duration
}

// Memory remembers used nonces until their timestamps leave the window, in
// a bounded amount of memory. It is safe for concurrent use; calls on
// different shards never contend.
//
// Each nonce is kept as a 64-bit keyed hash of (scope, nonce) in the
// bucket of its own timestamp: buckets span 2^30 ns (about a second), and
// a bucket is dropped whole, with no work per entry, once its last
// nanosecond has left the window. A bucket is an open-addressing table of
// hashes (8 bytes a slot, kept between 63 % and 88 % full), sized from the
// bucket before it; BenchmarkMemorySteadyRate measures about 12 bytes per
// remembered nonce, tables kept for reuse included.
//
// Two different nonces are taken for one only if their 64-bit hashes are
// equal; the hashing key is random per Memory, so nobody can choose nonces
// that collide, and a fresh nonce collides with one of the n in its
// bucket with probability at most n/2^64. At 20,000 requests a second
// (43,000 nonces a bucket) that is 2.3×10^-15 per nonce: one honest nonce
// refused in about 300 years. A collision refuses one honest nonce as
// replayed; it never accepts a replay, since a replayed nonce always has
// the very hash that was recorded.
type Memory struct {
	window int64
	mask   uint64
	ring   int64
	// key makes the stored hashes unpredictable, so no one can choose
	// nonces whose entries collide.
	key    [32]byte
	n      atomic.Int64
	mem    *pool
	shards []shard

	// floor: nonces stamped at or before it are refused
	// (nonce.ErrUnverifiable).
	floor atomic.Int64
	// horizon: the latest timestamp accepted without raising it first;
	// math.MaxInt64 without MemoryOptions.Horizon.
	horizon atomic.Int64
	// stopped: Stop was called; nothing more is recorded.
	stopped atomic.Bool
	hmu     sync.Mutex // one horizon raise at a time
	record  func(int64)
	lead    int64
}

// bucket holds the nonces of one span of timestamps in one shard.
type bucket struct {
	span  int64    // ts >> bucketBits of every nonce here; valid while t != nil
	t     []uint64 // the table, from the guard's memory
	n     int32    // entries in t
	class uint8    // t's class
}

type shard struct {
	mu   sync.Mutex
	ring []bucket // by span modulo len(ring)
	_    [32]byte // keep shards on separate cache lines
}

// NewMemory returns an empty Memory configured by opts, with a fresh random
// hashing key.
func NewMemory(opts MemoryOptions) *Memory {
	if opts.Window <= 0 {
		opts.Window = nonce.DefaultWindow
	}
	if opts.MaxMemory <= 0 {
		opts.MaxMemory = DefaultMaxMemory
	}
	if opts.Shards <= 0 {
		opts.Shards = DefaultShards
	}
	if opts.HorizonLead <= 0 {
		opts.HorizonLead = DefaultHorizonLead
	}
	n := min(1<<bits.Len(uint(opts.Shards-1)), maxShards)
	ring := ringLen(opts.Window)
	g := &Memory{
		window: int64(opts.Window),
		mask:   uint64(n - 1),
		ring:   int64(ring),
		mem:    newPool(opts.MaxMemory, fixedBytes(n, opts.Window)),
		shards: make([]shard, n),
		record: opts.Horizon,
		lead:   int64(opts.HorizonLead),
	}
	g.floor.Store(opts.Floor)
	if g.record == nil {
		g.horizon.Store(math.MaxInt64)
	}
	rand.Read(g.key[:]) // never fails (see crypto/rand.Read)
	for i := range g.shards {
		g.shards[i].ring = make([]bucket, ring)
	}
	return g
}

// entry is a nonce ready to be looked up: its hash, its shard (and the
// shard's index) and its bucket's span.
type entry struct {
	h    uint64
	s    *shard
	i    uint64
	span int64
}

// prepare checks a nonce as Remember does and hashes it.
func (g *Memory) prepare(scope nonce.Scope, n []byte, ts, now int64) (entry, error) {
	if len(n) == 0 {
		return entry{}, errEmpty
	}
	if len(n) > nonce.MaxLen {
		return entry{}, errTooLong
	}
	if err := nonce.CheckWindow(ts, now, time.Duration(g.window)); err != nil {
		return entry{}, err
	}
	if f := g.floor.Load(); ts <= f {
		return entry{}, nonce.UnverifiableError{Floor: f}
	}
	if g.stopped.Load() {
		return entry{}, nonce.ErrUnavailable
	}
	if ts > g.horizon.Load() {
		g.raise(ts, satAdd(ts, g.lead))
	}
	h, sh := g.hash(scope, n)
	i := sh & g.mask
	return entry{h: h, s: &g.shards[i], i: i, span: ts >> bucketBits}, nil
}

// Remember records the nonce n, whose timestamp is ts, under scope until
// ts plus the window, now being the server clock (both unix nanoseconds).
// It returns nonce.ErrReplayed if n is already recorded under scope and
// its timestamp has not left the window, nonce.ErrTooOld or
// nonce.ErrTooNew if ts is outside the window (so nothing is recorded that
// could outlive 2×window), nonce.ErrFull if the memory budget cannot hold
// it, and an error matching nonce.ErrMalformed if n is empty or longer
// than nonce.MaxLen. Only a nil result records the nonce.
//
// ts must be the timestamp n itself carries (see nonce.Parse): a nonce is
// looked up among the nonces of its own timestamp. Call Remember only
// after the request's signature has been verified, so that only staked
// validators can fill the guard. Remember does not retain n and does not
// allocate except when the guard takes memory it never held before.
//
// A nonce stamped at or before the guard's floor is refused with a
// nonce.UnverifiableError, and after Stop every nonce with
// nonce.ErrUnavailable.
func (g *Memory) Remember(scope nonce.Scope, n []byte, ts, now int64) error {
	e, err := g.prepare(scope, n, ts, now)
	if err != nil {
		return err
	}
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	if g.stopped.Load() {
		// Checked again under the lock: Snapshot reads a shard under its
		// lock after Stop, so nothing is added that it does not see.
		return nonce.ErrUnavailable
	}
	b := g.bucket(e.s, e.span, now)
	if b == nil {
		return nonce.ErrFull
	}
	if b.t != nil && tableHas(b.t, e.h) {
		return nonce.ErrReplayed
	}
	if !g.reserve(e.s, b, 1) {
		return nonce.ErrFull
	}
	g.add(b, e.h)
	return nil
}

// RememberPair remembers a and b as one operation, all or nothing: both are
// recorded, or neither. When one is refused it returns its index (0 or 1)
// and why, as Remember would; a is looked at first. b is refused as
// replayed when it is a itself (the same scope and nonce).
func (g *Memory) RememberPair(a, b nonce.Record, now int64) (int, error) {
	ea, err := g.prepare(a.Scope, a.Nonce, a.TS, now)
	if err != nil {
		return 0, err
	}
	eb, err := g.prepare(b.Scope, b.Nonce, b.TS, now)
	if err != nil {
		return 1, err
	}
	if ea.h == eb.h && ea.i == eb.i && ea.span == eb.span {
		// The same nonce twice, or two whose hashes collide: one entry
		// cannot stand for both.
		if err := g.Remember(a.Scope, a.Nonce, a.TS, now); err != nil {
			return 0, err
		}
		return 1, nonce.ErrReplayed
	}
	// Lock in shard order, so two pairs never wait on each other.
	first, second := ea.s, eb.s
	if eb.i < ea.i {
		first, second = second, first
	}
	first.mu.Lock()
	defer first.mu.Unlock()
	if second != first {
		second.mu.Lock()
		defer second.mu.Unlock()
	}
	if g.stopped.Load() {
		return 0, nonce.ErrUnavailable
	}
	ba := g.bucket(ea.s, ea.span, now)
	if ba == nil {
		return 0, nonce.ErrFull
	}
	if ba.t != nil && tableHas(ba.t, ea.h) {
		return 0, nonce.ErrReplayed
	}
	bb := g.bucket(eb.s, eb.span, now)
	if bb == nil {
		return 1, nonce.ErrFull
	}
	if bb.t != nil && tableHas(bb.t, eb.h) {
		return 1, nonce.ErrReplayed
	}
	// Make room in both before adding either: a refusal then leaves
	// nothing recorded.
	if ba == bb {
		if !g.reserve(ea.s, ba, 2) {
			return 0, nonce.ErrFull
		}
	} else {
		if !g.reserve(ea.s, ba, 1) {
			return 0, nonce.ErrFull
		}
		if !g.reserve(eb.s, bb, 1) {
			return 1, nonce.ErrFull
		}
	}
	g.add(ba, ea.h)
	g.add(bb, eb.h)
	return 0, nil
}

// bucket returns the bucket of span in s, which the caller has locked. A
// fresh bucket has no table yet (reserve gives it one). Starting a bucket
// first drops every expired bucket of the shard, so their memory serves
// the new ones and the slot of span is free.
//
// The ring holds every bucket that can be live at one instant, so the
// slot is taken by another live span only after the clock stepped back by
// about the ring's length: bucket then returns nil, and the nonce is
// refused as nonce.ErrFull rather than any nonce forgotten early.
func (g *Memory) bucket(s *shard, span, now int64) *bucket {
	b := &s.ring[mod(span, g.ring)]
	if b.t != nil && b.span == span {
		return b
	}
	g.dropExpired(s, now)
	if b.t != nil {
		return nil
	}
	b.span = span
	return b
}

// reserve makes room for add more entries in b, taking a table from the
// guard's memory for a fresh bucket (sized for the entries of the bucket
// before it, the best guess of the rate) or a larger one for a full
// bucket. It reports false when the budget cannot hold it.
func (g *Memory) reserve(s *shard, b *bucket, add int) bool {
	n := int(b.n)
	if b.t != nil && !full(len(b.t), n, add) {
		return true
	}
	want := n + add
	if b.t == nil {
		if prev := &s.ring[mod(b.span-1, g.ring)]; prev.t != nil && prev.span == b.span-1 {
			want = max(want, int(prev.n))
		}
	}
	k := classFor(want)
	t := g.mem.get(k)
	if t == nil {
		return false
	}
	if b.t != nil {
		for _, h := range b.t {
			if h != 0 {
				tableAdd(t, h)
			}
		}
		g.mem.put(b.t, b.class)
	}
	b.t, b.class = t, k
	return true
}

func (g *Memory) add(b *bucket, h uint64) {
	tableAdd(b.t, h)
	b.n++
	g.n.Add(1)
}

// expired reports whether every timestamp of span has left the window at
// now: its last nanosecond plus the window is before now.
func (g *Memory) expired(span, now int64) bool {
	last := span<<bucketBits | (bucketSpan - 1)
	return satAdd(last, g.window) < now
}

// dropExpired gives back the tables of s's expired buckets and returns how
// many nonces they held. s is locked by the caller.
func (g *Memory) dropExpired(s *shard, now int64) int {
	dropped := 0
	for i := range s.ring {
		b := &s.ring[i]
		if b.t != nil && g.expired(b.span, now) {
			g.mem.put(b.t, b.class)
			dropped += int(b.n)
			*b = bucket{}
		}
	}
	g.n.Add(-int64(dropped))
	return dropped
}

// Len returns the number of nonces held, including expired ones whose
// bucket was not yet dropped.
func (g *Memory) Len() int {
	return int(g.n.Load())
}

// MemoryBytes returns the memory the guard holds: its tables, in use or
// kept for reuse, and its fixed part. It never exceeds MaxMemory.
func (g *Memory) MemoryBytes() int64 {
	return g.mem.held.Load()
}

// MaxMemory returns the guard's memory budget in bytes.
func (g *Memory) MaxMemory() int64 {
	return g.mem.budget
}

// Sweep forgets every nonce whose bucket left the window before now (unix
// nanoseconds), gives back to the runtime the tables kept for reuse that
// no bucket took since the last Sweep, and returns how many nonces it
// forgot. It locks one shard at a time. Buckets are also dropped as new
// ones start, so Sweep matters when traffic stops.
func (g *Memory) Sweep(now int64) int {
	total := 0
	for i := range g.shards {
		s := &g.shards[i]
		s.mu.Lock()
		total += g.dropExpired(s, now)
		s.mu.Unlock()
	}
	g.mem.trim()
	return total
}

// Run calls Sweep with the wall clock every interval (DefaultSweepInterval
// if interval is not positive) until ctx is done; with
// MemoryOptions.Horizon it also keeps the horizon HorizonLead ahead of the
// clock at every tick (KeepHorizon), so the tick must be well under
// HorizonLead.
func (g *Memory) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultSweepInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			g.KeepHorizon(now.UnixNano())
			g.Sweep(now.UnixNano())
		}
	}
}

// KeepHorizon raises the horizon to now plus HorizonLead (unix ns), when
// MemoryOptions.Horizon is set and the guard is not stopped. Call it once
// before the guard serves, so the first horizon is recorded before any
// nonce is accepted; Run calls it at every tick.
func (g *Memory) KeepHorizon(now int64) {
	if g.record == nil || g.stopped.Load() {
		return
	}
	h := satAdd(now, g.lead)
	g.raise(h, h)
}

// raise records to as the horizon unless the horizon already reaches
// need.
func (g *Memory) raise(need, to int64) {
	if g.record == nil {
		return
	}
	g.hmu.Lock()
	defer g.hmu.Unlock()
	if need <= g.horizon.Load() {
		return
	}
	g.record(to)
	g.horizon.Store(to)
}

// Horizon returns the latest timestamp the guard accepts without first
// recording a later horizon (math.MaxInt64 without
// MemoryOptions.Horizon): no nonce it accepted is stamped after it.
func (g *Memory) Horizon() int64 { return g.horizon.Load() }

// Floor returns the guard's floor (unix ns): nonces stamped at or before
// it are refused with nonce.ErrUnverifiable.
func (g *Memory) Floor() int64 { return g.floor.Load() }

// Stop makes the guard refuse every nonce from now on
// (nonce.ErrUnavailable), so that Snapshot holds everything it ever
// accepted. Call it when the server has stopped taking requests; it cannot
// be undone.
func (g *Memory) Stop() { g.stopped.Store(true) }

// hash returns the stored hash of (scope, nonce), never 0, and the bits
// that pick its shard: SHA-256 over the secret key, then the fixed-length
// scope, then the nonce, so the encoding is unambiguous and, without the
// key, collisions cannot be searched for. The two results come from
// different bytes of the digest, so entries of one shard differ in all 64
// bits of their hashes.
func (g *Memory) hash(scope nonce.Scope, text []byte) (uint64, uint64) {
	var buf [len(g.key) + len(scope.Who) + 1 + nonce.MaxLen]byte
	n := copy(buf[:], g.key[:])
	n += copy(buf[n:], scope.Who[:])
	buf[n] = byte(scope.Kind)
	n++
	n += copy(buf[n:], text)
	sum := sha256.Sum256(buf[:n])
	h := binary.LittleEndian.Uint64(sum[:8])
	if h == 0 {
		h = 1 // 0 marks an empty slot
	}
	return h, binary.LittleEndian.Uint64(sum[8:16])
}

// mod returns a mod n in [0, n), for n > 0.
func mod(a, n int64) int64 {
	r := a % n
	if r < 0 {
		r += n
	}
	return r
}
