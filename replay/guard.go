package replay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/fibergate/fibergate/crypto/nonce"
	"github.com/redis/go-redis/v9"
)

// Defaults for Options fields left zero.
const (
	// DefaultPrefix starts every key, as the Redis key store's does.
	DefaultPrefix = "fibergate:"
	// DefaultClockSkew is how much longer than its window a nonce is kept,
	// for replicas whose clocks differ by up to this much.
	DefaultClockSkew = 2 * time.Second
)

// Sync is told the key store's invalidation generation, read in the same
// round trip as each nonce, so that the store knows which cached keys may
// be stale without a round trip of its own. keystore.Redis implements it.
type Sync interface {
	// GenerationKey returns the Redis key of the generation counter.
	GenerationKey() string
	// ObserveGeneration records a generation read from Redis.
	ObserveGeneration(gen int64)
}

// Options configures a Guard.
type Options struct {
	// Client is the connection to Redis (required). Its timeouts bound
	// every Remember; the guard never closes it.
	Client redis.UniversalClient
	// Prefix starts every key. Default DefaultPrefix.
	Prefix string
	// Window is how far a nonce's timestamp may be from the server clock,
	// as in nonce.Options. Default nonce.DefaultWindow (120 s).
	Window time.Duration
	// ClockSkew is added to each nonce's life in Redis, so a replica whose
	// clock runs behind still finds it while it accepts its timestamp.
	// Default DefaultClockSkew (2 s).
	ClockSkew time.Duration
	// Sync, if set, receives the key store's generation with each nonce.
	Sync Sync
	// OnError, if set, receives every failed Redis call. It must not block.
	OnError func(err error)
}

// Guard is a replay guard in Redis. Each nonce is recorded under
//
//	<prefix>nonce:<32 hex digits>
//
// the first 16 bytes of SHA-256 over the signer's public key, the kind
// (header or body) and the nonce, with value "1" and an expiry at the end
// of the nonce's window plus ClockSkew. The nonce is public in the request
// anyway, so the hash needs no key; it only bounds the key length. Guard is
// safe for concurrent use.
type Guard struct {
	c       redis.UniversalClient
	prefix  string
	window  int64
	skew    int64
	sync    Sync
	genKey  string
	onError func(error)
	live    liveCount
}

// New returns a Guard configured by opts. It does not contact Redis.
func New(opts Options) (*Guard, error) {
	if opts.Client == nil {
		return nil, errors.New("replay: guard needs a redis client")
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Window <= 0 {
		opts.Window = nonce.DefaultWindow
	}
	if opts.ClockSkew <= 0 {
		opts.ClockSkew = DefaultClockSkew
	}
	g := &Guard{
		c:       opts.Client,
		prefix:  opts.Prefix + "nonce:",
		window:  int64(opts.Window),
		skew:    int64(opts.ClockSkew),
		sync:    opts.Sync,
		onError: opts.OnError,
		live:    newLiveCount(opts.Window, opts.ClockSkew),
	}
	if g.sync != nil {
		g.genKey = g.sync.GenerationKey()
	}
	return g, nil
}

// Errors for nonces refused before Redis is asked; they match
// nonce.ErrMalformed.
var (
	errEmpty   = fmt.Errorf("%w: empty", nonce.ErrMalformed)
	errTooLong = fmt.Errorf("%w: longer than %d bytes", nonce.ErrMalformed, nonce.MaxLen)
)

// Key returns the Redis key that records nonce n under scope.
func (g *Guard) Key(scope nonce.Scope, n []byte) string {
	h := sha256.New()
	h.Write(scope.Who[:])
	h.Write([]byte{byte(scope.Kind)})
	h.Write(n)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	buf := make([]byte, len(g.prefix)+32)
	copy(buf, g.prefix)
	hex.Encode(buf[len(g.prefix):], sum[:16])
	return string(buf)
}

// rememberScript records a nonce and reads the key store's generation in
// the same round trip. KEYS: nonce, generation. ARGV: life in ms.
var rememberScript = redis.NewScript(`
local ok = redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1])
local gen = redis.call('GET', KEYS[2])
if ok then return {1, gen} end
return {0, gen}
`)

// Remember records nonce n, whose timestamp is ts, under scope until ts
// plus the window (plus ClockSkew), now being the server clock (both unix
// nanoseconds), in one round trip to Redis. Its results are those of
// nonce.Guard.Remember: ErrReplayed if any replica recorded the nonce under
// scope and it has not expired, ErrTooOld or ErrTooNew outside the window,
// ErrMalformed-matching errors for an empty or over-long nonce; plus an
// error wrapping nonce.ErrUnavailable when Redis fails or is slower than
// the client's timeouts, in which case the nonce may or may not have been
// recorded and the caller must refuse the request. Only a nil result
// accepts the nonce. Remember does not retain n.
func (g *Guard) Remember(scope nonce.Scope, n []byte, ts, now int64) error {
	if len(n) == 0 {
		return errEmpty
	}
	if len(n) > nonce.MaxLen {
		return errTooLong
	}
	if err := nonce.CheckWindow(ts, now, time.Duration(g.window)); err != nil {
		return err
	}
	end := satAdd(satAdd(ts, g.window), g.skew)
	// ts is at least now-window, so end is after now; PX wants whole ms.
	ms := (end - now + int64(time.Millisecond) - 1) / int64(time.Millisecond)
	key := g.Key(scope, n)
	ctx := context.Background()
	var ok bool
	if g.sync == nil {
		set, err := g.c.SetNX(ctx, key, "1", time.Duration(ms)*time.Millisecond).Result()
		if err != nil {
			return g.fail(err)
		}
		ok = set
	} else {
		res, err := rememberScript.Run(ctx, g.c, []string{key, g.genKey}, ms).Slice()
		if err != nil {
			return g.fail(err)
		}
		if len(res) != 2 {
			return g.fail(fmt.Errorf("unexpected reply of %d elements", len(res)))
		}
		ok = res[0] == int64(1)
		if gen, isStr := res[1].(string); isStr {
			if v, err := strconv.ParseInt(gen, 10, 64); err == nil {
				g.sync.ObserveGeneration(v)
			}
		}
	}
	if !ok {
		return nonce.ErrReplayed
	}
	g.live.add(end)
	return nil
}

// rememberPairScript records two nonces all or nothing: it returns 1 or 2
// for the first one already recorded (and records neither), or 0 after
// recording both; with the key-change counter when a third key names it.
var rememberPairScript = redis.NewScript(`
local gen = false
if #KEYS == 3 then gen = redis.call('GET', KEYS[3]) end
if redis.call('EXISTS', KEYS[1]) == 1 then return {1, gen} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {2, gen} end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return {0, gen}
`)

// RememberPair records a and b in one round trip, all or nothing: a nonce
// seen by any replica is refused, and neither is recorded then. When one
// is refused it returns its index (0 or 1) and the error, as Remember
// would.
func (g *Guard) RememberPair(a, b nonce.Record, now int64) (int, error) {
	recs := [2]nonce.Record{a, b}
	var keys [3]string
	var ttl [2]any
	var ends [2]int64
	for i, r := range recs {
		if len(r.Nonce) == 0 {
			return i, errEmpty
		}
		if len(r.Nonce) > nonce.MaxLen {
			return i, errTooLong
		}
		if err := nonce.CheckWindow(r.TS, now, time.Duration(g.window)); err != nil {
			return i, err
		}
		ends[i] = satAdd(satAdd(r.TS, g.window), g.skew)
		ttl[i] = (ends[i] - now + int64(time.Millisecond) - 1) / int64(time.Millisecond)
		keys[i] = g.Key(r.Scope, r.Nonce)
	}
	ks := keys[:2]
	if g.sync != nil {
		keys[2] = g.genKey
		ks = keys[:3]
	}
	res, err := rememberPairScript.Run(context.Background(), g.c, ks, ttl[:]...).Slice()
	if err != nil {
		return 0, g.fail(err)
	}
	if len(res) != 2 {
		return 0, g.fail(fmt.Errorf("unexpected reply of %d elements", len(res)))
	}
	if g.sync != nil {
		if gen, isStr := res[1].(string); isStr {
			if v, err := strconv.ParseInt(gen, 10, 64); err == nil {
				g.sync.ObserveGeneration(v)
			}
		}
	}
	switch res[0] {
	case int64(1):
		return 0, nonce.ErrReplayed
	case int64(2):
		return 1, nonce.ErrReplayed
	}
	g.live.add(ends[0])
	g.live.add(ends[1])
	return 0, nil
}

func (g *Guard) fail(err error) error {
	if g.onError != nil {
		g.onError(err)
	}
	return fmt.Errorf("%w: redis: %v", nonce.ErrUnavailable, err)
}

// Len returns about how many nonces this replica recorded whose windows
// have not yet ended, to the second. Nonces other replicas recorded are
// not counted; Redis holds them all.
func (g *Guard) Len() int { return g.live.len(time.Now().UnixNano()) }

// satAdd returns a+b for b >= 0, saturating at math.MaxInt64.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// liveCount counts recorded nonces by the second their records end, in a
// ring of buckets spanning the longest possible life, without locks. Each
// bucket packs the second (high 40 bits) and the count (low 24 bits).
type liveCount struct {
	b []atomic.Uint64
}

const countBits = 24

func newLiveCount(window, skew time.Duration) liveCount {
	n := int((2*window+skew)/time.Second) + 3
	return liveCount{b: make([]atomic.Uint64, n)}
}

// add counts one record ending at end (unix ns).
func (l *liveCount) add(end int64) {
	sec := uint64(end / int64(time.Second))
	b := &l.b[sec%uint64(len(l.b))]
	for {
		old := b.Load()
		var next uint64
		switch s := old >> countBits; {
		case s == sec:
			if old&(1<<countBits-1) == 1<<countBits-1 {
				return // saturated
			}
			next = old + 1
		case s < sec:
			next = sec<<countBits | 1 // the bucket's old second has passed
		default:
			return
		}
		if b.CompareAndSwap(old, next) {
			return
		}
	}
}

// len sums the buckets whose second has not passed at now (unix ns).
func (l *liveCount) len(now int64) int {
	sec := uint64(now / int64(time.Second))
	total := 0
	for i := range l.b {
		v := l.b[i].Load()
		if v>>countBits >= sec {
			total += int(v & (1<<countBits - 1))
		}
	}
	return total
}
