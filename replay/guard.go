package replay

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
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

// The memory Redis needs for the nonces, as BenchmarkMemoryPerRequest
// measures it on a redis-server holding a full window: about
// RedisBaseBytes plus RedisBytesPerRequest for every request of the
// window (its rate times the window plus ClockSkew).
const (
	RedisBaseBytes       = 5_000_000
	RedisBytesPerRequest = 18
)

// RedisMemory returns about how many bytes Redis holds for the nonces of
// rate requests a second with window and the default clock skew.
func RedisMemory(rate float64, window time.Duration) int64 {
	return RedisBaseBytes + int64(rate*RedisBytesPerRequest*(window+DefaultClockSkew).Seconds())
}

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

// Guard is a replay guard in Redis. The nonces stamped in one second are
// spread over 256 small Redis sets, by 8 bits of their hash,
//
//	<prefix>nonce:<unix second of their timestamps>:<0 to 255>
//
// whose members are 64-bit integers: SHA-256 over the signer's public key,
// the kind (header or body) and the nonce, cut to 8 bytes. Each set
// expires at the end of its second's window plus ClockSkew, so a whole
// second is forgotten at once. Sets of integers of up to 512 members
// (Redis' set-max-intset-entries) are stored as packed arrays, 8 bytes a
// member; 256 sets a second keep them that small up to about 65,000
// requests a second. A request then costs Redis about 25 bytes, where a
// key per nonce cost 290 (BenchmarkMemoryPerRequest). Guard is safe for
// concurrent use.
//
// Two different nonces are taken for one only when their 64-bit hashes
// match: with n nonces in its second a fresh nonce does with probability
// below n/2^64, which refuses it as replayed (2.3×10^-15 at 20,000
// requests a second: once in about 300 years). A replay always has the
// recorded hash, so it is never accepted. The hash needs no secret key:
// the nonces are public in the requests, but a collision only refuses a
// nonce, and aiming one at another validator's nonce means knowing it
// before it is sent.
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

// Slot returns where nonce n, stamped ts (unix ns), is recorded under
// scope: the Redis key of its set and its member.
func (g *Guard) Slot(scope nonce.Scope, n []byte, ts int64) (key, member string) {
	h := sha256.New()
	h.Write(scope.Who[:])
	h.Write([]byte{byte(scope.Kind)})
	h.Write(n)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	var buf [64]byte
	k := append(buf[:0], g.prefix...)
	k = strconv.AppendInt(k, second(ts), 10)
	k = append(k, ':')
	k = strconv.AppendUint(k, uint64(sum[8]), 10)
	return string(k), strconv.FormatInt(int64(binary.BigEndian.Uint64(sum[:8])), 10)
}

// second returns the unix second of ts (unix ns), rounded down.
func second(ts int64) int64 {
	s := ts / int64(time.Second)
	if ts%int64(time.Second) < 0 {
		s--
	}
	return s
}

// end returns when the set of ts's second may expire (unix ns): the last
// nanosecond of that second plus the window and ClockSkew.
func (g *Guard) end(ts int64) int64 {
	s := second(ts)
	if s >= math.MaxInt64/int64(time.Second) {
		return math.MaxInt64
	}
	return satAdd(satAdd(s*int64(time.Second)+int64(time.Second)-1, g.window), g.skew)
}

// ttl returns the life in whole ms, rounded up, of the set of ts's second
// at now.
func (g *Guard) ttl(ts, now int64) int64 {
	// ts is at least now-window, so the end is after now.
	return (g.end(ts) - now + int64(time.Millisecond) - 1) / int64(time.Millisecond)
}

// rememberScript records one nonce in its second's set and reads the key
// store's generation in the same round trip. The set's life is raised to
// the one given when shorter (a new set has none). KEYS: set
// [, generation]. ARGV: member, life in ms.
var rememberScript = redis.NewScript(`
local gen = false
if #KEYS == 2 then gen = redis.call('GET', KEYS[2]) end
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return {0, gen} end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {1, gen}
`)

// check refuses a nonce that cannot be recorded, before Redis is asked.
func (g *Guard) check(n []byte, ts, now int64) error {
	if len(n) == 0 {
		return errEmpty
	}
	if len(n) > nonce.MaxLen {
		return errTooLong
	}
	return nonce.CheckWindow(ts, now, time.Duration(g.window))
}

// Remember records nonce n, whose timestamp is ts, under scope until ts
// plus the window (plus ClockSkew), now being the server clock (both unix
// nanoseconds), in one round trip to Redis. ts must be the timestamp n
// itself carries. Its results are those of nonce.Guard.Remember:
// ErrReplayed if any replica recorded the nonce under scope and its
// timestamp has not left the window, ErrTooOld or ErrTooNew outside the
// window, ErrMalformed-matching errors for an empty or over-long nonce;
// plus an error wrapping nonce.ErrUnavailable when Redis fails or is
// slower than the client's timeouts, in which case the nonce may or may
// not have been recorded and the caller must refuse the request. Only a
// nil result accepts the nonce. Remember does not retain n.
func (g *Guard) Remember(scope nonce.Scope, n []byte, ts, now int64) error {
	if err := g.check(n, ts, now); err != nil {
		return err
	}
	key, member := g.Slot(scope, n, ts)
	keys := []string{key}
	if g.sync != nil {
		keys = append(keys, g.genKey)
	}
	res, err := rememberScript.Run(context.Background(), g.c, keys, member, g.ttl(ts, now)).Slice()
	if err != nil {
		return g.fail(err)
	}
	if len(res) != 2 {
		return g.fail(fmt.Errorf("unexpected reply of %d elements", len(res)))
	}
	g.observe(res[1])
	if res[0] != int64(1) {
		return nonce.ErrReplayed
	}
	g.live.add(g.end(ts))
	return nil
}

// rememberPairScript records two nonces, each in its second's set, all or
// nothing: it returns 1 or 2 for the first one already recorded (and
// records neither), or 0 after recording both; with the key-change counter
// when a third key names it. The same nonce twice is recorded once and
// the second refused. KEYS: set a, set b [, generation]. ARGV: member a,
// member b, life of set a in ms, life of set b in ms.
var rememberPairScript = redis.NewScript(`
local gen = false
if #KEYS == 3 then gen = redis.call('GET', KEYS[3]) end
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return {1, gen} end
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 then return {2, gen} end
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
if redis.call('SADD', KEYS[2], ARGV[2]) == 0 then return {2, gen} end
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
return {0, gen}
`)

// RememberPair records a and b in one round trip, all or nothing: a nonce
// seen by any replica is refused, and neither is recorded then. When one
// is refused it returns its index (0 or 1) and the error, as Remember
// would. b is refused as replayed when it is a itself (a is then
// recorded, as nonce.Guard does).
func (g *Guard) RememberPair(a, b nonce.Record, now int64) (int, error) {
	recs := [2]nonce.Record{a, b}
	keys := make([]string, 2, 3)
	var args [4]any
	for i, r := range recs {
		if err := g.check(r.Nonce, r.TS, now); err != nil {
			return i, err
		}
		keys[i], args[i] = g.Slot(r.Scope, r.Nonce, r.TS)
		args[2+i] = g.ttl(r.TS, now)
	}
	if g.sync != nil {
		keys = append(keys, g.genKey)
	}
	res, err := rememberPairScript.Run(context.Background(), g.c, keys, args[:]...).Slice()
	if err != nil {
		return 0, g.fail(err)
	}
	if len(res) != 2 {
		return 0, g.fail(fmt.Errorf("unexpected reply of %d elements", len(res)))
	}
	g.observe(res[1])
	switch res[0] {
	case int64(1):
		return 0, nonce.ErrReplayed
	case int64(2):
		if keys[0] == keys[1] && args[0] == args[1] {
			g.live.add(g.end(a.TS))
		}
		return 1, nonce.ErrReplayed
	}
	g.live.add(g.end(a.TS))
	g.live.add(g.end(b.TS))
	return 0, nil
}

// observe hands a generation read from Redis to the Sync, if any.
func (g *Guard) observe(v any) {
	if g.sync == nil {
		return
	}
	if gen, isStr := v.(string); isStr {
		if n, err := strconv.ParseInt(gen, 10, 64); err == nil {
			g.sync.ObserveGeneration(n)
		}
	}
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
