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

// Defaults for RedisOptions fields left zero.
const (
	// DefaultPrefix starts every key, as the Redis key store's does.
	DefaultPrefix = "fibergate:"
	// DefaultClockSkew is how much longer than its window a nonce is kept,
	// for replicas whose clocks differ by up to this much.
	DefaultClockSkew = 2 * time.Second
	// DefaultRecoveryHold is how long every nonce is refused after a
	// replica finds the nonces lost: time for every other replica to
	// notice the new floor (Watch checks every second) and raise it past
	// the nonces it knows were accepted.
	DefaultRecoveryHold = 2 * time.Second
)

// The memory Redis needs for the nonces, as BenchmarkRedisMemoryPerRequest
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

// RedisOptions configures a Redis guard.
type RedisOptions struct {
	// Client is the connection to Redis (required). Its timeouts bound
	// every Remember; the guard never closes it.
	Client redis.UniversalClient
	// Prefix starts every key. Default DefaultPrefix.
	Prefix string
	// Window is how far a nonce's timestamp may be from the server clock,
	// as in MemoryOptions. Default nonce.DefaultWindow (120 s).
	Window time.Duration
	// ClockSkew is added to each nonce's life in Redis, so a replica whose
	// clock runs behind still finds it while it accepts its timestamp.
	// Default DefaultClockSkew (2 s).
	ClockSkew time.Duration
	// Sync, if set, receives the key store's generation with each nonce.
	Sync Sync
	// OnError, if set, receives every failed Redis call. It must not block.
	OnError func(err error)
	// OnLost, if set, is told once each time this replica learns that
	// Redis lost the nonces (a FLUSHALL or FLUSHDB, a restart without
	// persistence, eviction), whether it found the floor it knew gone or
	// saw the floor another replica set: found says which. floor is the
	// new floor (unix ns). A floor missing at a replica's first read (a
	// new Redis, or one emptied while no replica ran) is set the same way
	// but not reported. The key store's cache should be emptied then: the
	// keys are gone too. It must not block.
	OnLost func(floor int64, found bool)
	// RecoveryHold is how long every nonce is refused after a loss is
	// found, while every replica raises the new floor past the nonces it
	// knows were accepted. Default DefaultRecoveryHold.
	RecoveryHold time.Duration
}

// Redis is the replay guard replicas share. The nonces stamped in one
// second are spread over 256 small Redis sets, by 8 bits of their hash,
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
// key per nonce cost 290 (BenchmarkRedisMemoryPerRequest). Redis is safe for
// concurrent use.
//
// Redis can lose the nonces: FLUSHALL, FLUSHDB, a restart without
// persistence, eviction. A guard accepts a nonce only if Redis can show it
// unused, so every script also reads three keys of its own that never
// expire but the hold:
//
//	<prefix>nonce-floor    a time (ms): nonces stamped at or before it are
//	                       refused as unverifiable (nonce.UnverifiableError)
//	<prefix>nonce-horizon  the latest timestamp (ms) of an accepted nonce
//	<prefix>nonce-hold     present (PX RecoveryHold) just after a loss:
//	                       every nonce is refused
//
// A missing floor means the nonces may be gone. The replica that finds it
// sets it at its clock or past the latest nonce it knows was accepted
// (its own, or the horizon it last read), whichever is later, and starts
// the hold; every replica reads the floor with every nonce and in Watch
// (every second), and on seeing it move raises it past the latest nonce
// it knows of. A nonce recorded before the loss is stamped no later than
// one of those, so it is never accepted twice; honest requests signed
// after the hold are served as before.
//
// Two different nonces are taken for one only when their 64-bit hashes
// match: with n nonces in its second a fresh nonce does with probability
// below n/2^64, which refuses it as replayed (2.3×10^-15 at 20,000
// requests a second: once in about 300 years). A replay always has the
// recorded hash, so it is never accepted. The hash needs no secret key:
// the nonces are public in the requests, but a collision only refuses a
// nonce, and aiming one at another validator's nonce means knowing it
// before it is sent.
type Redis struct {
	c          redis.UniversalClient
	prefix     string
	floorKey   string
	holdKey    string
	horizonKey string
	probeKey   string
	window     int64
	skew       int64
	hold       int64
	sync       Sync
	genKey     string
	onError    func(error)
	onLost     func(int64, bool)
	// lostAt is when OnLost was last told (unix ns): the floor moving
	// again during one loss's hold is the same loss.
	lostAt atomic.Int64
	live   liveCount

	// floor is the floor last read from Redis (unix ns); 0 until then,
	// when floorRead is set.
	floor     atomic.Int64
	floorRead atomic.Bool
	// latest is the latest timestamp of a nonce this replica accepted or
	// read as the horizon (unix ns).
	latest atomic.Int64
	// holdUntil is when the hold after a loss ends, as last read (unix ns).
	holdUntil atomic.Int64
	// refusing, when set, refuses every nonce (Refuse).
	refusing atomic.Pointer[error]
}

// NewRedis returns a Redis guard configured by opts. It does not contact
// Redis.
func NewRedis(opts RedisOptions) (*Redis, error) {
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
	if opts.RecoveryHold <= 0 {
		opts.RecoveryHold = DefaultRecoveryHold
	}
	g := &Redis{
		c:          opts.Client,
		prefix:     opts.Prefix + "nonce:",
		floorKey:   opts.Prefix + "nonce-floor",
		holdKey:    opts.Prefix + "nonce-hold",
		horizonKey: opts.Prefix + "nonce-horizon",
		probeKey:   opts.Prefix + "probe",
		window:     int64(opts.Window),
		skew:       int64(opts.ClockSkew),
		hold:       int64(opts.RecoveryHold),
		sync:       opts.Sync,
		onError:    opts.OnError,
		onLost:     opts.OnLost,
		live:       newLiveCount(opts.Window, opts.ClockSkew),
	}
	if g.sync != nil {
		g.genKey = g.sync.GenerationKey()
	}
	return g, nil
}

// Slot returns where nonce n, stamped ts (unix ns), is recorded under
// scope: the Redis key of its set and its member.
func (g *Redis) Slot(scope nonce.Scope, n []byte, ts int64) (key, member string) {
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
func (g *Redis) end(ts int64) int64 {
	s := second(ts)
	if s >= math.MaxInt64/int64(time.Second) {
		return math.MaxInt64
	}
	return satAdd(satAdd(s*int64(time.Second)+int64(time.Second)-1, g.window), g.skew)
}

// ttl returns the life in whole ms, rounded up, of the set of ts's second
// at now.
func (g *Redis) ttl(ts, now int64) int64 {
	// ts is at least now-window, so the end is after now.
	return (g.end(ts) - now + int64(time.Millisecond) - 1) / int64(time.Millisecond)
}

// The remember scripts share their first part: the generation, then the
// guard's own keys. KEYS[n] is the floor, KEYS[n+1] the hold, KEYS[n+2]
// the horizon, KEYS[n+3] the generation if any. A reply is {result,
// generation, floor, horizon, hold left in ms}:
const (
	resOK       = 0 // recorded
	resReplayed = 1 // the first nonce (1) or the second (2) was recorded before
	resLost     = 3 // the floor is missing: the nonces may be gone
	resBelow    = 4 // the first nonce (4) or the second (5) is at or below the floor
	resHold     = 6 // the floor was just set after a loss: everything waits
)

// guardHead reads the state every remember script starts from and
// returns early when the nonces cannot be judged. base is the index of the
// floor key; the timestamps (ms) are the ARGV from tsArg on, count of them.
func guardHead(base int) string {
	return `
local gen = false
if #KEYS == ` + strconv.Itoa(base+3) + ` then gen = redis.call('GET', KEYS[` + strconv.Itoa(base+3) + `]) end
local floor = redis.call('GET', KEYS[` + strconv.Itoa(base) + `])
if not floor then return {3, gen, false, false, 0} end
local hold = redis.call('PTTL', KEYS[` + strconv.Itoa(base+1) + `])
local horizon = redis.call('GET', KEYS[` + strconv.Itoa(base+2) + `]) or '0'
if hold > 0 then return {6, gen, floor, horizon, hold} end
local f = tonumber(floor)
local function done(code, ts)
  if code == 0 and ts > tonumber(horizon) then
    horizon = tostring(ts)
    redis.call('SET', KEYS[` + strconv.Itoa(base+2) + `], horizon)
  end
  return {code, gen, floor, horizon, 0}
end
`
}

// rememberScript records one nonce in its second's set, reading the key
// store's generation in the same round trip, unless the floor is missing,
// the floor was just set (the hold) or the nonce is stamped at or before
// it. The set's life is raised to the one given when shorter (a new set
// has none); the horizon is raised to the nonce's time. KEYS: set, floor,
// hold, horizon [, generation]. ARGV: member, life in ms, timestamp in ms.
var rememberScript = redis.NewScript(guardHead(2) + `
local ts = tonumber(ARGV[3])
if ts <= f then return {4, gen, floor, horizon, 0} end
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return done(1, ts) end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return done(0, ts)
`)

// rememberPairScript records two nonces, each in its second's set, all or
// nothing: it returns 1 or 2 for the first one already recorded, 4 or 5
// for the first one at or below the floor, 3 or 6 as rememberScript (and
// records neither then), or 0 after recording both. The same nonce twice
// is recorded once and the second refused. KEYS: set a, set b, floor,
// hold, horizon [, generation]. ARGV: member a, member b, life of set a in
// ms, life of set b in ms, timestamp of a in ms, timestamp of b in ms.
var rememberPairScript = redis.NewScript(guardHead(3) + `
local ta, tb = tonumber(ARGV[5]), tonumber(ARGV[6])
if ta <= f then return {4, gen, floor, horizon, 0} end
if tb <= f then return {5, gen, floor, horizon, 0} end
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return done(1, 0) end
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 then return done(2, 0) end
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
if redis.call('SADD', KEYS[2], ARGV[2]) == 0 then return done(2, ta) end
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
return done(0, math.max(ta, tb))
`)

// floorScript makes the floor at least ARGV[1] (ms) and returns it. When
// the floor was missing it also starts the hold (ARGV[2] ms), during which
// every nonce is refused while the other replicas see the new floor and
// raise it past what they accepted. Reply: {floor, 1 if it was missing}.
// KEYS: floor, hold.
var floorScript = redis.NewScript(`
local f = redis.call('GET', KEYS[1])
local missing = 0
if not f then
  missing = 1
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
end
if not f or tonumber(f) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
  f = ARGV[1]
end
return {f, missing}
`)

// probeScript is Check's: a write of the size a nonce takes (which Redis
// refuses when it is out of memory under noeviction), then the floor, the
// hold left and the horizon. KEYS: probe, floor, hold, horizon. ARGV:
// value, life in ms.
var probeScript = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local floor = redis.call('GET', KEYS[2])
if not floor then return {false, 0, false} end
return {floor, redis.call('PTTL', KEYS[3]), redis.call('GET', KEYS[4]) or '0'}
`)

// check refuses a nonce that cannot be recorded, before Redis is asked.
func (g *Redis) check(n []byte, ts, now int64) error {
	if len(n) == 0 {
		return errEmpty
	}
	if len(n) > nonce.MaxLen {
		return errTooLong
	}
	if err := nonce.CheckWindow(ts, now, time.Duration(g.window)); err != nil {
		return err
	}
	if f := g.floor.Load(); ts <= f {
		// Known to be below the floor: Redis would say so.
		return nonce.UnverifiableError{Floor: f}
	}
	if p := g.refusing.Load(); p != nil {
		return fmt.Errorf("%w: %v", nonce.ErrUnavailable, *p)
	}
	return nil
}

// ms returns ts (unix ns) in whole milliseconds, rounded down: a nonce is
// compared with the floor (whole ms) at that precision, refusing up to a
// millisecond more than exactly.
func ms(ts int64) int64 {
	m := ts / int64(time.Millisecond)
	if ts%int64(time.Millisecond) < 0 {
		m--
	}
	return m
}

// FloorKey returns the Redis key of the floor.
func (g *Redis) FloorKey() string { return g.floorKey }

// Floor returns the floor as last read from Redis (unix ns; 0 before the
// first read): nonces stamped at or before it are refused.
func (g *Redis) Floor() int64 { return g.floor.Load() }

// Holding returns when the hold after a loss ends (unix ns), as last read
// from Redis: until then every nonce is refused. It is in the past when
// there is no hold.
func (g *Redis) Holding() int64 { return g.holdUntil.Load() }

// Refuse makes the guard refuse every nonce with an error wrapping
// nonce.ErrUnavailable and reason, until Refuse(nil). serve refuses while
// Redis may evict keys: a nonce Redis may forget cannot be relied on.
func (g *Redis) Refuse(reason error) {
	if reason == nil {
		g.refusing.Store(nil)
		return
	}
	g.refusing.Store(&reason)
}

// see takes in the state a script read: the floor (ms as a string; when it
// changed, this replica raises it past the latest nonce it knows of, since
// those are among what the floor must cover), the horizon (the latest
// timestamp any replica accepted, ms) and the hold left (ms). now is the
// clock (unix ns).
func (g *Redis) see(ctx context.Context, floor, horizon any, hold, now int64) error {
	if h, ok := horizon.(string); ok {
		if v, err := strconv.ParseInt(h, 10, 64); err == nil {
			storeMax(&g.latest, v*int64(time.Millisecond))
		}
	}
	g.holdUntil.Store(now + hold*int64(time.Millisecond))
	s, ok := floor.(string)
	if !ok {
		return nil
	}
	f, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("floor %q is not a number", s)
	}
	old := g.floor.Load()
	fns := f * int64(time.Millisecond)
	first := !g.floorRead.Swap(true)
	if !first && fns == old {
		return nil
	}
	if !first && fns > old {
		// The floor moved: a replica found the nonces lost.
		g.lost(fns, false, now)
		if latest := ms(g.latest.Load()) + 1; latest > f {
			return g.raiseFloor(ctx, latest, now)
		}
	}
	storeMax(&g.floor, fns)
	return nil
}

// lost tells OnLost of a loss, once per loss: a floor found missing is
// always a loss; moves of the floor seen within two holds of the last
// report are the raises that follow one.
func (g *Redis) lost(floor int64, found bool, now int64) {
	last := g.lostAt.Load()
	if !found && last != 0 && now-last < 2*g.hold {
		return
	}
	if !g.lostAt.CompareAndSwap(last, now) && !found {
		return
	}
	if g.onLost != nil {
		g.onLost(floor, found)
	}
}

// raiseFloor runs floorScript with at (ms) and records the floor it
// returns, telling OnLost when this replica found the floor missing.
func (g *Redis) raiseFloor(ctx context.Context, at, now int64) error {
	res, err := floorScript.Run(ctx, g.c, []string{g.floorKey, g.holdKey}, at, g.hold/int64(time.Millisecond)).Slice()
	if err != nil {
		return g.fail(err)
	}
	if len(res) != 2 {
		return g.fail(fmt.Errorf("unexpected reply of %d elements", len(res)))
	}
	s, _ := res[0].(string)
	f, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return g.fail(fmt.Errorf("floor %q is not a number", s))
	}
	fns := f * int64(time.Millisecond)
	storeMax(&g.floor, fns)
	knew := g.floorRead.Swap(true)
	if res[1] == int64(1) {
		g.holdUntil.Store(now + g.hold)
		// A replica that never read a floor cannot tell a new Redis from
		// one emptied before it started: it sets the floor and the hold
		// all the same, but only a floor it knew and found gone is a loss.
		if knew {
			g.lost(fns, true, now)
		}
	}
	return nil
}

// recover sets the floor after a script found it missing: at the latest
// nonce this replica knows of, or now, whichever is later; the hold then
// gives the other replicas time to raise it past theirs.
func (g *Redis) recover(ctx context.Context, now int64) error {
	return g.raiseFloor(ctx, max(ms(now), ms(g.latest.Load()))+1, now)
}

// Check is Watch's step and the readiness probe: it writes to Redis as a
// nonce does (so a Redis out of memory fails it), reads the floor, the
// hold and the horizon and, if the floor is missing, sets it as a request
// would have. now is the clock (unix ns). It returns an error wrapping
// nonce.ErrUnavailable when Redis fails.
func (g *Redis) Check(ctx context.Context, now int64) error {
	res, err := probeScript.Run(ctx, g.c, []string{g.probeKey, g.floorKey, g.holdKey, g.horizonKey}, ms(now), 10_000).Slice()
	if err != nil {
		return g.fail(err)
	}
	if len(res) != 3 {
		return g.fail(fmt.Errorf("unexpected reply of %d elements", len(res)))
	}
	if res[0] == nil {
		return g.recover(ctx, now)
	}
	hold, _ := res[1].(int64)
	if err := g.see(ctx, res[0], res[2], max(hold, 0), now); err != nil {
		return g.fail(err)
	}
	return nil
}

// Watch runs Check every interval (a second when not positive) until ctx
// is done, so that a loss is found, and other replicas' new floors seen,
// without waiting for a request.
func (g *Redis) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		g.Check(ctx, time.Now().UnixNano())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// run runs a remember script (keys and args of one or two nonces, ts
// their timestamps) and returns its result code, after taking in what it
// read; a missing floor is set (recover) and the script run once more.
// It returns the refusal for a result that is not the script's own
// (3, 4, 5, 6) as err, with the index of the nonce it concerns.
func (g *Redis) run(script *redis.Script, keys []string, args []any, ts []int64, now int64) (int64, int, error) {
	ctx := context.Background()
	for attempt := 0; ; attempt++ {
		res, err := script.Run(ctx, g.c, keys, args...).Slice()
		if err != nil {
			return 0, 0, g.fail(err)
		}
		if len(res) != 5 {
			return 0, 0, g.fail(fmt.Errorf("unexpected reply of %d elements", len(res)))
		}
		g.observe(res[1])
		code, _ := res[0].(int64)
		if code == resLost {
			if attempt > 0 {
				return 0, 0, g.fail(errors.New("the nonce floor vanished twice in a row"))
			}
			if err := g.recover(ctx, now); err != nil {
				return 0, 0, err
			}
			// The hold has begun: nothing is recorded until it ends.
			return 0, 0, nonce.UnverifiableError{Floor: max(g.floor.Load(), g.holdUntil.Load())}
		}
		hold, _ := res[4].(int64)
		if err := g.see(ctx, res[2], res[3], max(hold, 0), now); err != nil {
			return 0, 0, g.fail(err)
		}
		switch code {
		case resHold:
			return 0, 0, nonce.UnverifiableError{Floor: max(g.floor.Load(), g.holdUntil.Load())}
		case resBelow, resBelow + 1:
			return 0, int(code - resBelow), nonce.UnverifiableError{Floor: g.floor.Load()}
		}
		if code == resOK {
			for _, t := range ts {
				storeMax(&g.latest, t)
			}
		}
		return code, 0, nil
	}
}

// guardKeys appends the floor, hold, horizon and generation keys.
func (g *Redis) guardKeys(keys []string) []string {
	keys = append(keys, g.floorKey, g.holdKey, g.horizonKey)
	if g.sync != nil {
		keys = append(keys, g.genKey)
	}
	return keys
}

// Remember records nonce n, whose timestamp is ts, under scope until ts
// plus the window (plus ClockSkew), now being the server clock (both unix
// nanoseconds), in one round trip to Redis. ts must be the timestamp n
// itself carries. Its results are those of Memory.Remember:
// ErrReplayed if any replica recorded the nonce under scope and its
// timestamp has not left the window, ErrTooOld or ErrTooNew outside the
// window, ErrMalformed-matching errors for an empty or over-long nonce,
// an UnverifiableError for a nonce stamped at or before the floor or
// during the hold after a loss; plus an error wrapping
// nonce.ErrUnavailable when Redis fails or is slower than the client's
// timeouts, in which case the nonce may or may not have been recorded and
// the caller must refuse the request. Only a nil result accepts the
// nonce. Remember does not retain n.
func (g *Redis) Remember(scope nonce.Scope, n []byte, ts, now int64) error {
	if err := g.check(n, ts, now); err != nil {
		return err
	}
	key, member := g.Slot(scope, n, ts)
	var kb [5]string
	keys := g.guardKeys(append(kb[:0], key))
	code, _, err := g.run(rememberScript, keys, []any{member, g.ttl(ts, now), ms(ts)}, []int64{ts}, now)
	if err != nil {
		return err
	}
	if code != resOK {
		return nonce.ErrReplayed
	}
	g.live.add(g.end(ts))
	return nil
}

// RememberPair records a and b in one round trip, all or nothing: a nonce
// seen by any replica is refused, and neither is recorded then. When one
// is refused it returns its index (0 or 1) and the error, as Remember
// would. b is refused as replayed when it is a itself (a is then
// recorded, as Memory does).
func (g *Redis) RememberPair(a, b nonce.Record, now int64) (int, error) {
	recs := [2]nonce.Record{a, b}
	var kb [6]string
	keys := kb[:2]
	var args [6]any
	for i, r := range recs {
		if err := g.check(r.Nonce, r.TS, now); err != nil {
			return i, err
		}
		keys[i], args[i] = g.Slot(r.Scope, r.Nonce, r.TS)
		args[2+i] = g.ttl(r.TS, now)
		args[4+i] = ms(r.TS)
	}
	keys = g.guardKeys(keys)
	code, which, err := g.run(rememberPairScript, keys, args[:], []int64{a.TS, b.TS}, now)
	if err != nil {
		return which, err
	}
	switch code {
	case 1:
		return 0, nonce.ErrReplayed
	case 2:
		if keys[0] == keys[1] && args[0] == args[1] {
			storeMax(&g.latest, a.TS)
			g.live.add(g.end(a.TS))
		}
		return 1, nonce.ErrReplayed
	}
	g.live.add(g.end(a.TS))
	g.live.add(g.end(b.TS))
	return 0, nil
}

// observe hands a generation read from Redis to the Sync, if any.
func (g *Redis) observe(v any) {
	if g.sync == nil {
		return
	}
	if gen, isStr := v.(string); isStr {
		if n, err := strconv.ParseInt(gen, 10, 64); err == nil {
			g.sync.ObserveGeneration(n)
		}
	}
}

func (g *Redis) fail(err error) error {
	if g.onError != nil {
		g.onError(err)
	}
	return fmt.Errorf("%w: redis: %v", nonce.ErrUnavailable, err)
}

// Len returns about how many nonces this replica recorded whose windows
// have not yet ended, to the second. Nonces other replicas recorded are
// not counted; Redis holds them all.
func (g *Redis) Len() int { return g.live.len(time.Now().UnixNano()) }

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
