package keystore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/redis/go-redis/v9"
)

// DefaultRedisPrefix starts every Redis key and channel name a Redis store
// uses when RedisOptions.Prefix is empty.
const DefaultRedisPrefix = "fibergate:"

// redisValueVersion is the format version sealed inside every value.
const redisValueVersion = 1

// Subscription timing: how long the invalidation subscription may stay
// silent before it is pinged, and the bounds of the wait between attempts
// to re-establish it.
const (
	subscriptionPing = time.Second
	minResubscribe   = 50 * time.Millisecond
	maxResubscribe   = 2 * time.Second
)

// Operations named to RedisOptions.OnError.
const (
	RedisOpGet          = "get"
	RedisOpPut          = "put"
	RedisOpDelete       = "delete"
	RedisOpSubscription = "subscription"
	// RedisOpDecode is a stored value that does not open: damaged, sealed
	// under another storage key, or moved from another key's name. It is
	// answered as no key (the validator exchanges a new one, which
	// replaces it), never served and never a lasting 503.
	RedisOpDecode = "decode"
)

// RedisOptions configures a Redis store. Zero fields take the defaults.
type RedisOptions struct {
	// Client is the connection to Redis (required). Its timeouts bound
	// every call the store makes; the store never closes it.
	Client redis.UniversalClient
	// StorageKey seals every value written to Redis (required). Replicas
	// sharing a Redis must share the storage key.
	StorageKey *fernet.Key
	// Prefix starts every key and the channel name, so several deployments
	// can share one Redis. Default DefaultRedisPrefix.
	Prefix string
	// TTL and MaxPerValidator are as in MemoryOptions, and hold across every
	// replica sharing the Redis.
	TTL             time.Duration
	MaxPerValidator int
	// Shards is the number of independently locked shards of the local
	// cache. Default DefaultShards.
	Shards int
	// OnError, if set, receives every failed Redis operation with its name
	// (RedisOpGet, RedisOpPut, RedisOpDelete, RedisOpSubscription, RedisOpDecode). It must not
	// block.
	OnError func(op string, err error)
}

// Redis is a Store kept in Redis and shared by every replica that uses the
// same Redis, prefix and storage key, so a key exchanged with one replica
// is usable on all of them.
//
// Layout, with P the prefix, V the validator's public key in 64 lowercase
// hex digits and U the uuid as the validator sent it (Redis keys are binary
// safe and V has a fixed length, so U needs no escaping):
//
//	P key:V:U   string: the entry as one Fernet token under the storage key;
//	            expires with the entry (PX = its remaining life)
//	P keyidx:V  sorted set: the validator's uuids scored by creation time in
//	            microseconds; it backs the per-validator cap
//	P keygen    counter: the invalidation generation, raised by every change
//	P keys      pub/sub channel: "gen:V:U" for each changed entry
//
// The sealed value holds the validator and uuid too, and Get refuses a
// value found under another name, so whoever can write to Redis still
// cannot move a key from one validator to another. Nothing is in clear.
//
// Put, Delete and the cap run as Lua scripts, so the cap holds atomically
// across replicas: when a validator holds more than MaxPerValidator entries
// its oldest (by creation time, then uuid, as Memory does) are removed in
// the same step.
//
// Reads go through a local cache, so Get usually costs no round trip.
// Entries never change under the same (validator, uuid) except by a new
// exchange, which raises the generation and publishes the change; Run
// subscribes and drops the changed entries. Because a publication can
// still be on its way when the next request arrives, the cache is used only
// while every generation known to exist has been applied: ObserveGeneration
// is told the generation read in the same round trip as each request's
// nonce, so a key exchanged again on another replica is used here at once.
// While the subscription is down the cache is bypassed, and it is emptied
// when the subscription is re-established.
//
// Every Redis failure is an error wrapping ErrUnavailable. Redis is safe
// for concurrent use; make one with NewRedis and start Run.
type Redis struct {
	c       redis.UniversalClient
	sk      *fernet.Key
	ttl     time.Duration
	maxPer  int
	onError func(op string, err error)

	prefix  string
	genKey  string
	channel string

	seed   maphash.Seed
	shards []cacheShard
	mask   uint64
	count  atomic.Int64

	// healthy is true while the subscription is up and the cache has been
	// reset since it came up.
	healthy atomic.Bool
	// epoch changes whenever the cache is reset; a fill that began in an
	// older epoch is dropped.
	epoch atomic.Uint64
	// applied is the highest generation whose changes have been applied to
	// the cache; seen the highest known to exist.
	applied atomic.Int64
	seen    atomic.Int64
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[[32]byte]map[string]*cached
	// inval is the highest generation applied to an entry of this shard:
	// a fill read at an older generation may be stale and is dropped.
	inval int64
	_     [80]byte
}

// cached is an entry and the generation it was read at.
type cached struct {
	e   *Entry
	gen int64
}

var _ Store = (*Redis)(nil)

// NewRedis returns a Redis store configured by opts. It does not contact
// Redis; call Run to keep the cache coherent.
func NewRedis(opts RedisOptions) (*Redis, error) {
	switch {
	case opts.Client == nil:
		return nil, errors.New("keystore: redis store needs a client")
	case opts.StorageKey == nil:
		return nil, errors.New("keystore: redis store needs a storage key")
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultRedisPrefix
	}
	var n int
	opts.TTL, opts.MaxPerValidator, n = sizes(opts.TTL, opts.MaxPerValidator, opts.Shards)
	r := &Redis{
		c:       opts.Client,
		sk:      opts.StorageKey,
		ttl:     opts.TTL,
		maxPer:  opts.MaxPerValidator,
		onError: opts.OnError,
		prefix:  opts.Prefix,
		genKey:  opts.Prefix + "keygen",
		channel: opts.Prefix + "keys",
		seed:    maphash.MakeSeed(),
		shards:  make([]cacheShard, n),
		mask:    uint64(n - 1),
	}
	for i := range r.shards {
		r.shards[i].m = make(map[[32]byte]map[string]*cached)
	}
	return r, nil
}

// EntryKey returns the Redis key of the entry under (validator, uuid).
func (r *Redis) EntryKey(validator [32]byte, uuid []byte) string {
	var b strings.Builder
	b.Grow(len(r.prefix) + 4 + 64 + 1 + len(uuid))
	b.WriteString(r.prefix)
	b.WriteString("key:")
	b.WriteString(hex.EncodeToString(validator[:]))
	b.WriteByte(':')
	b.Write(uuid)
	return b.String()
}

// IndexKey returns the Redis key of the validator's sorted set of uuids.
func (r *Redis) IndexKey(validator [32]byte) string {
	return r.prefix + "keyidx:" + hex.EncodeToString(validator[:])
}

// GenerationKey returns the Redis key of the invalidation generation, for
// a replay guard to read in the same round trip as a nonce.
func (r *Redis) GenerationKey() string { return r.genKey }

// Channel returns the pub/sub channel changes are published on.
func (r *Redis) Channel() string { return r.channel }

// ObserveGeneration records that generation gen exists, so that Get
// bypasses the cache until the subscription has applied it. Callers read
// gen from Redis after the change they must see, in the same round trip as
// other work (the replay guard reads it with each nonce).
func (r *Redis) ObserveGeneration(gen int64) { storeMax(&r.seen, gen) }

func storeMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

func (r *Redis) shard(validator *[32]byte) *cacheShard {
	return &r.shards[maphash.Bytes(r.seed, validator[:])&r.mask]
}

// fail reports a failed operation and returns it wrapped in ErrUnavailable.
func (r *Redis) fail(op string, err error) error {
	if r.onError != nil {
		r.onError(op, err)
	}
	return fmt.Errorf("%w: redis %s: %v", ErrUnavailable, op, err)
}

// cacheUsable reports whether a cached entry can be trusted: the
// subscription is up and has applied every generation known to exist.
func (r *Redis) cacheUsable() bool {
	return r.healthy.Load() && r.applied.Load() >= r.seen.Load()
}

// getScript reads an entry and the generation in one step, so the entry is
// known to be current as of that generation.
var getScript = redis.NewScript(`
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}
`)

// Get returns the entry under (validator, uuid) unless it is missing or has
// expired at now. From the cache it takes one shard's read lock and does
// not allocate; otherwise it reads Redis once and caches what it found.
// A Redis failure is an error wrapping ErrUnavailable. A value that does
// not open (damaged, under another storage key, moved from another name)
// is ErrNotFound, after OnError is told (RedisOpDecode): the validator's next
// key exchange replaces it.
func (r *Redis) Get(validator [32]byte, uuid []byte, now time.Time) (*Entry, error) {
	if r.cacheUsable() {
		s := r.shard(&validator)
		s.mu.RLock()
		c := s.m[validator][string(uuid)]
		s.mu.RUnlock()
		if c != nil {
			if !now.Before(c.e.Expires) {
				return nil, ErrNotFound
			}
			return c.e, nil
		}
	}
	return r.fetch(validator, uuid, now)
}

// Fresh returns the entry as Get does, but read from Redis past the local
// cache (and cached again). The proxy calls it when a token does not open
// under a cached key: the validator may have just exchanged a new key on
// another replica.
func (r *Redis) Fresh(validator [32]byte, uuid []byte, now time.Time) (*Entry, error) {
	return r.fetch(validator, uuid, now)
}

// fetch reads the entry from Redis and caches it.
func (r *Redis) fetch(validator [32]byte, uuid []byte, now time.Time) (*Entry, error) {
	epoch := r.epoch.Load()
	res, err := getScript.Run(context.Background(), r.c, []string{r.EntryKey(validator, uuid), r.genKey}).Slice()
	if err != nil {
		return nil, r.fail(RedisOpGet, err)
	}
	if len(res) != 2 {
		return nil, r.fail(RedisOpGet, fmt.Errorf("unexpected reply of %d elements", len(res)))
	}
	gen := genOf(res[1])
	r.ObserveGeneration(gen)
	if res[0] == nil {
		return nil, ErrNotFound
	}
	token, ok := res[0].(string)
	if !ok {
		return nil, r.fail(RedisOpGet, fmt.Errorf("unexpected value of type %T", res[0]))
	}
	e, err := r.open([]byte(token), validator, uuid)
	if err != nil {
		r.fail(RedisOpDecode, err)
		return nil, ErrNotFound
	}
	if !now.Before(e.Expires) {
		return nil, ErrNotFound
	}
	r.fill(e, gen, epoch)
	return e, nil
}

// genOf reads a generation from a script reply element; a missing one is 0.
func genOf(v any) int64 {
	switch g := v.(type) {
	case int64:
		return g
	case string:
		n, _ := strconv.ParseInt(g, 10, 64)
		return n
	}
	return 0
}

// fill caches e, read at generation gen during epoch, unless the cache was
// reset since, or an entry of the shard changed after gen (e may be that
// entry's old value), or a newer read is already cached.
func (r *Redis) fill(e *Entry, gen int64, epoch uint64) {
	if !r.healthy.Load() {
		return
	}
	s := r.shard(&e.Validator)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.epoch.Load() != epoch || s.inval > gen {
		return
	}
	keys := s.m[e.Validator]
	if keys == nil {
		keys = make(map[string]*cached)
		s.m[e.Validator] = keys
	}
	old := keys[e.UUID]
	if old != nil && old.gen > gen {
		return
	}
	if old == nil {
		r.count.Add(1)
	}
	keys[e.UUID] = &cached{e: e, gen: gen}
}

// redisValue is the JSON sealed in each value.
type redisValue struct {
	Version int           `json:"version"`
	Entry   snapshotEntry `json:"entry"`
}

// seal returns the value stored for e: one Fernet token under the storage
// key over the entry's JSON.
func (r *Redis) seal(e *Entry) ([]byte, error) {
	raw := e.Key.Raw()
	v := redisValue{Version: redisValueVersion, Entry: snapshotEntry{
		Validator: hex.EncodeToString(e.Validator[:]),
		UUID:      e.UUID,
		Key:       base64.URLEncoding.EncodeToString(raw[:]),
		Created:   e.Created.UTC(),
		Expires:   e.Expires.UTC(),
	}}
	plain, err := json.Marshal(&v)
	if err != nil {
		return nil, err
	}
	defer clear(plain) // the JSON holds the key in clear
	return r.sk.Seal(nil, plain)
}

// open decrypts a stored value and checks that it is the entry of
// (validator, uuid).
func (r *Redis) open(token []byte, validator [32]byte, uuid []byte) (*Entry, error) {
	plain, _, err := r.sk.Decrypt(nil, token)
	if err != nil {
		return nil, errors.New("the stored value does not decrypt under the storage key (every replica must use the same storage key)")
	}
	defer clear(plain)
	var v redisValue
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decoding the stored value: %v", err)
	}
	if v.Version != redisValueVersion {
		return nil, fmt.Errorf("stored value of format version %d, want %d", v.Version, redisValueVersion)
	}
	e, err := v.Entry.entry()
	if err != nil {
		return nil, fmt.Errorf("stored value: %v", err)
	}
	if e.Validator != validator || e.UUID != string(uuid) {
		return nil, errors.New("the stored value belongs under another key")
	}
	return e, nil
}

// initGen is the Lua that creates the generation counter when it is
// missing (a new or restarted Redis) at the server's time in microseconds,
// so generations keep growing across a Redis restart that lost the counter.
const initGen = `
local function initgen(k)
  if redis.call('EXISTS', k) == 0 then
    local t = redis.call('TIME')
    redis.call('SET', k, string.format('%.0f', t[1] * 1000000 + t[2]))
  end
end
`

// putScript stores an entry, enforces the validator's cap and publishes
// every change under a new generation, which it returns.
//
// KEYS: entry, index, generation. ARGV: value, ttl ms, score (created µs),
// uuid, cap, channel, entry key prefix of the validator, validator hex.
var putScript = redis.NewScript(initGen + `
initgen(KEYS[3])
local gen = string.format('%.0f', redis.call('INCR', KEYS[3]))
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
if redis.call('PTTL', KEYS[2]) < ttl then
  redis.call('PEXPIRE', KEYS[2], ttl)
end
local cap = tonumber(ARGV[5])
if redis.call('ZCARD', KEYS[2]) > cap then
  for _, u in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if redis.call('EXISTS', ARGV[7] .. u) == 0 then
      redis.call('ZREM', KEYS[2], u)
    end
  end
  while redis.call('ZCARD', KEYS[2]) > cap do
    local u = redis.call('ZPOPMIN', KEYS[2])[1]
    redis.call('DEL', ARGV[7] .. u)
    redis.call('PUBLISH', ARGV[6], gen .. ':' .. ARGV[8] .. ':' .. u)
  end
end
redis.call('PUBLISH', ARGV[6], gen .. ':' .. ARGV[8] .. ':' .. ARGV[4])
return tonumber(gen)
`)

// Put stores a copy of e in Redis, replacing any entry under the same
// (validator, uuid), with Redis expiry at the entry's end of life. Created
// and Expires are settled as Memory.Put does. When the validator then holds
// more than MaxPerValidator entries across all replicas, its oldest are
// removed in the same atomic step. Put returns ErrInvalidEntry or
// ErrExpired without storing, and an error wrapping ErrUnavailable when
// Redis fails (the entry may or may not be stored then).
func (r *Redis) Put(e *Entry, now time.Time) error {
	if err := checkEntry(e); err != nil {
		return err
	}
	stored := *e
	if stored.Created.IsZero() {
		stored.Created = now
	}
	if limit := stored.Created.Add(r.ttl); stored.Expires.IsZero() || stored.Expires.After(limit) {
		stored.Expires = limit
	}
	if !now.Before(stored.Expires) {
		return ErrExpired
	}
	value, err := r.seal(&stored)
	if err != nil {
		return fmt.Errorf("keystore: sealing an entry: %w", err)
	}
	// PX takes whole milliseconds: round the remaining life up.
	ttl := (stored.Expires.Sub(now) + time.Millisecond - 1) / time.Millisecond
	vhex := hex.EncodeToString(stored.Validator[:])
	epoch := r.epoch.Load()
	gen, err := putScript.Run(context.Background(), r.c,
		[]string{r.EntryKey(stored.Validator, []byte(stored.UUID)), r.IndexKey(stored.Validator), r.genKey},
		value, int64(ttl), stored.Created.UnixMicro(), stored.UUID, r.maxPer, r.channel,
		r.prefix+"key:"+vhex+":", vhex,
	).Int64()
	if err != nil {
		return r.fail(RedisOpPut, err)
	}
	r.ObserveGeneration(gen)
	r.fill(&stored, gen, epoch)
	return nil
}

// deleteScript removes an entry and publishes the change.
//
// KEYS: entry, index, generation. ARGV: uuid, channel, validator hex.
var deleteScript = redis.NewScript(initGen + `
initgen(KEYS[3])
local gen = string.format('%.0f', redis.call('INCR', KEYS[3]))
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[2], gen .. ':' .. ARGV[3] .. ':' .. ARGV[1])
return tonumber(gen)
`)

// Delete removes the entry under (validator, uuid) from Redis and from
// every replica's cache. A Redis failure goes to OnError; the entry then
// stays until it expires.
func (r *Redis) Delete(validator [32]byte, uuid []byte) {
	gen, err := deleteScript.Run(context.Background(), r.c,
		[]string{r.EntryKey(validator, uuid), r.IndexKey(validator), r.genKey},
		string(uuid), r.channel, hex.EncodeToString(validator[:]),
	).Int64()
	if err != nil {
		r.fail(RedisOpDelete, err)
		return
	}
	r.ObserveGeneration(gen)
	r.invalidate(validator, string(uuid), gen)
}

// Len returns the number of entries in this replica's cache, expired ones
// Sweep has not removed yet included. Redis may hold more: entries other
// replicas stored that this one has not read.
func (r *Redis) Len() int { return int(r.count.Load()) }

// Sweep removes the cache entries expired at now and returns how many it
// removed. Redis expires its own copies.
func (r *Redis) Sweep(now time.Time) (removed int) {
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for v, keys := range s.m {
			for u, c := range keys {
				if !now.Before(c.e.Expires) {
					delete(keys, u)
					removed++
				}
			}
			if len(keys) == 0 {
				delete(s.m, v)
			}
		}
		s.mu.Unlock()
	}
	r.count.Add(int64(-removed))
	return removed
}

// invalidate drops the cached entry under (validator, uuid) if it was read
// before generation gen, and records gen as applied to its shard.
func (r *Redis) invalidate(validator [32]byte, uuid string, gen int64) {
	s := r.shard(&validator)
	s.mu.Lock()
	s.inval = max(s.inval, gen)
	if keys := s.m[validator]; keys != nil {
		if c := keys[uuid]; c != nil && c.gen < gen {
			delete(keys, uuid)
			r.count.Add(-1)
			if len(keys) == 0 {
				delete(s.m, validator)
			}
		}
	}
	s.mu.Unlock()
}

// apply handles one message of the channel: "gen" or "gen:V:U".
func (r *Redis) apply(msg string) {
	gs, rest, hasEntry := strings.Cut(msg, ":")
	gen, err := strconv.ParseInt(gs, 10, 64)
	if err != nil {
		return // not ours
	}
	if hasEntry {
		vhex, uuid, ok := strings.Cut(rest, ":")
		var v [32]byte
		if !ok || len(vhex) != 64 {
			return
		}
		if _, err := hex.Decode(v[:], []byte(vhex)); err != nil {
			return
		}
		r.invalidate(v, uuid, gen)
	}
	storeMax(&r.applied, gen)
}

// resyncScript makes sure the generation exists and is at least ARGV[2]
// (what this replica has seen: Redis may have restarted or failed over and
// lost it), publishing a raise so that every replica's applied generation
// follows, and returns it.
//
// KEYS: generation. ARGV: channel, floor.
var resyncScript = redis.NewScript(initGen + `
initgen(KEYS[1])
local gen = tonumber(redis.call('GET', KEYS[1]))
local floor = tonumber(ARGV[2])
if floor > gen then
  gen = floor
  local s = string.format('%.0f', gen)
  redis.call('SET', KEYS[1], s)
  redis.call('PUBLISH', ARGV[1], s)
end
return gen
`)

// reset empties the cache and starts a new epoch.
func (r *Redis) reset() {
	r.epoch.Add(1)
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		n := 0
		for _, keys := range s.m {
			n += len(keys)
		}
		clear(s.m)
		s.mu.Unlock()
		r.count.Add(int64(-n))
	}
}

// resync runs once the subscription is confirmed: from now on every change
// reaches this replica, so the cache is emptied (changes made while it was
// down were missed) and the current generation counts as applied.
func (r *Redis) resync(ctx context.Context) error {
	r.reset()
	gen, err := resyncScript.Run(ctx, r.c, []string{r.genKey}, r.channel, r.seen.Load()).Int64()
	if err != nil {
		return err
	}
	r.ObserveGeneration(gen)
	storeMax(&r.applied, gen)
	r.healthy.Store(true)
	return nil
}

// Forget empties the cache: Redis lost its data (the replay guard found
// the nonces gone), so the keys cached here are gone there too, and a
// replica must not go on serving keys the others no longer know.
func (r *Redis) Forget() { r.reset() }

// lose marks the cache unusable until the next resync.
func (r *Redis) lose() {
	r.healthy.Store(false)
	r.epoch.Add(1)
}

// Healthy reports whether the invalidation subscription is up, so that Get
// can use the cache.
func (r *Redis) Healthy() bool { return r.healthy.Load() }

// Run keeps the cache coherent until ctx is done: it subscribes to the
// channel, applies every change published on it, pings the subscription
// when it is quiet and re-establishes it after any failure (the cache is
// bypassed meanwhile), and sweeps expired cache entries every sweep
// interval (DefaultSweepInterval if sweep <= 0).
func (r *Redis) Run(ctx context.Context, sweep time.Duration) {
	if sweep <= 0 {
		sweep = DefaultSweepInterval
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(sweep)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				r.Sweep(now)
			}
		}
	})
	defer wg.Wait()

	wait := minResubscribe
	for ctx.Err() == nil {
		if r.subscribe(ctx) {
			wait = minResubscribe
		}
		r.lose()
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, maxResubscribe)
	}
}

// subscribe runs one subscription until it fails or ctx is done, and
// reports whether it came up.
func (r *Redis) subscribe(ctx context.Context) (up bool) {
	ps := r.c.Subscribe(ctx, r.channel)
	defer ps.Close()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, subscriptionPing)
		if ctx.Err() != nil {
			return up
		}
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				// Quiet: make sure the connection is alive.
				if err := ps.Ping(ctx); err == nil {
					pinged = true
					continue
				}
			}
			r.fail(RedisOpSubscription, err)
			return up
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				if err := r.resync(ctx); err != nil {
					if ctx.Err() == nil {
						r.fail(RedisOpSubscription, err)
					}
					return up
				}
				up = true
			}
		case *redis.Message:
			r.apply(m.Payload)
		}
	}
}
