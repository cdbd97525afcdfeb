package nonce

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"maps"
	"math"
	"math/bits"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults applied by NewGuard to zero or negative Options fields.
const (
	// DefaultMaxEntries allows about 4,000 requests a second in all, each
	// with a header and a body nonce, for the 120 s an entry typically
	// lives; at the ~56 bytes per entry BenchmarkMemoryPerMillion measures,
	// about 56 MB when full.
	DefaultMaxEntries = 1_000_000
	// DefaultShards is the number of independently locked parts of a Guard.
	DefaultShards = 64
	// DefaultSweepInterval is how often Run sweeps when given no interval.
	DefaultSweepInterval = 10 * time.Second
)

// maxShards bounds Options.Shards; more would only waste memory.
const maxShards = 1 << 12

// rebuildMin is the smallest shard peak at which Sweep replaces a mostly
// empty map: Go maps never shrink, so without this a burst would keep its
// memory for the life of the process.
const rebuildMin = 1024

// Kind says which nonce of a request is recorded, so a header nonce and a
// body nonce with the same text do not collide.
type Kind uint8

const (
	// KindHeader is the nonce in the request's `nonce` header.
	KindHeader Kind = iota
	// KindBody is the `"nonce"` field inside the decrypted JSON body.
	KindBody
)

// String returns "header", "body" or "kind(N)".
func (k Kind) String() string {
	switch k {
	case KindHeader:
		return "header"
	case KindBody:
		return "body"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Scope is the namespace a nonce is recorded under: the same nonce under
// another scope is a different entry.
type Scope struct {
	// Who is the public key of the hotkey that signed the request.
	Who [32]byte
	// Kind says where in the request the nonce was found.
	Kind Kind
}

// Options configures a Guard. Zero or negative fields take the defaults.
type Options struct {
	// Window is how far a nonce's timestamp may be from the server clock in
	// either direction, and so how long after its timestamp a nonce is
	// remembered. Default DefaultWindow (120 s).
	Window time.Duration
	// MaxEntries is the most nonces the guard holds at once, expired but
	// not yet swept ones included. Default DefaultMaxEntries.
	MaxEntries int
	// Shards is the number of independently locked parts, rounded up to a
	// power of two and at most 4096. Default DefaultShards.
	Shards int
}

// Guard remembers used nonces until their timestamps leave the window. It
// is safe for concurrent use; calls on different shards never contend.
type Guard struct {
	window int64
	max    int64
	mask   uint64
	// key makes the stored hashes unpredictable, so no one can choose
	// nonces whose entries collide.
	key    [32]byte
	n      atomic.Int64
	shards []shard
}

// entryKey is the keyed hash of (scope, nonce) a Guard stores.
type entryKey [16]byte

type shard struct {
	mu   sync.Mutex
	m    map[entryKey]int64 // entry → expiry, unix ns, inclusive
	peak int                // largest len(m) since m was made
	_    [40]byte           // keep shards on separate cache lines
}

// NewGuard returns an empty Guard configured by opts, with a fresh random
// hashing key.
func NewGuard(opts Options) *Guard {
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.Shards <= 0 {
		opts.Shards = DefaultShards
	}
	n := min(1<<bits.Len(uint(opts.Shards-1)), maxShards)
	g := &Guard{
		window: int64(opts.Window),
		max:    int64(opts.MaxEntries),
		mask:   uint64(n - 1),
		shards: make([]shard, n),
	}
	rand.Read(g.key[:]) // never fails (see crypto/rand.Read)
	for i := range g.shards {
		g.shards[i].m = make(map[entryKey]int64)
	}
	return g
}

// Remember records nonce, whose timestamp is ts, under scope until ts plus
// the window, now being the server clock (both unix nanoseconds). It
// returns ErrReplayed if the nonce is already recorded under scope and not
// expired, ErrTooOld or ErrTooNew if ts is outside the window (so nothing is
// recorded that could outlive 2×window), ErrFull if the guard holds
// MaxEntries nonces, and ErrMalformed if nonce is empty or longer than
// MaxLen. Only a nil result records the nonce.
//
// Call it only after the request's signature has been verified, so that
// only staked validators can fill the guard. Remember does not retain nonce
// and does not allocate except when a shard's map grows.
func (g *Guard) Remember(scope Scope, nonce []byte, ts, now int64) error {
	if len(nonce) == 0 {
		return errEmpty
	}
	if len(nonce) > MaxLen {
		return errTooLong
	}
	if err := CheckWindow(ts, now, time.Duration(g.window)); err != nil {
		return err
	}
	exp := satAdd(ts, g.window)
	k, h := g.hash(scope, nonce)
	s := &g.shards[h&g.mask]

	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[k]; ok {
		if old >= now {
			return ErrReplayed
		}
		// Expired but not yet swept: reuse the slot.
		s.m[k] = exp
		return nil
	}
	if g.n.Add(1) > g.max {
		g.n.Add(-1)
		return ErrFull
	}
	s.m[k] = exp
	s.peak = max(s.peak, len(s.m))
	return nil
}

// Len returns the number of nonces held, including expired ones not yet
// swept.
// Record is one nonce to remember: its scope, text and timestamp (unix ns).
type Record struct {
	Scope Scope
	Nonce []byte
	TS    int64
}

// RememberPair remembers a and then b, as Remember does. When one is
// refused it returns its index (0 or 1) and the error; a is kept when only
// b is refused (it was valid and is now used).
func (g *Guard) RememberPair(a, b Record, now int64) (int, error) {
	if err := g.Remember(a.Scope, a.Nonce, a.TS, now); err != nil {
		return 0, err
	}
	if err := g.Remember(b.Scope, b.Nonce, b.TS, now); err != nil {
		return 1, err
	}
	return 0, nil
}

func (g *Guard) Len() int {
	return int(g.n.Load())
}

// Sweep forgets every nonce whose timestamp left the window before now
// (unix nanoseconds) and returns how many it forgot. It locks one shard at
// a time.
func (g *Guard) Sweep(now int64) int {
	total := 0
	for i := range g.shards {
		s := &g.shards[i]
		s.mu.Lock()
		removed := 0
		for k, exp := range s.m {
			if exp < now {
				delete(s.m, k)
				removed++
			}
		}
		if removed > 0 && s.peak >= rebuildMin && len(s.m) < s.peak/4 {
			m := make(map[entryKey]int64, len(s.m))
			maps.Copy(m, s.m)
			s.m, s.peak = m, len(m)
		}
		s.mu.Unlock()
		g.n.Add(-int64(removed))
		total += removed
	}
	return total
}

// Run calls Sweep with the wall clock every interval (DefaultSweepInterval
// if interval is not positive) until ctx is done.
func (g *Guard) Run(ctx context.Context, interval time.Duration) {
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
			g.Sweep(now.UnixNano())
		}
	}
}

// hash returns the stored key of (scope, nonce) and the bits that pick its
// shard: SHA-256 over the secret key, then the fixed-length scope, then the
// nonce, so the encoding is unambiguous and, without the key, collisions
// cannot be searched for.
func (g *Guard) hash(scope Scope, nonce []byte) (entryKey, uint64) {
	var buf [len(g.key) + len(scope.Who) + 1 + MaxLen]byte
	n := copy(buf[:], g.key[:])
	n += copy(buf[n:], scope.Who[:])
	buf[n] = byte(scope.Kind)
	n++
	n += copy(buf[n:], nonce)
	sum := sha256.Sum256(buf[:n])
	return entryKey(sum[:16]), binary.LittleEndian.Uint64(sum[16:24])
}

// satAdd returns a+b for b >= 0, saturating at math.MaxInt64.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
