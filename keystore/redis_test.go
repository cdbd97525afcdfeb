package keystore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/crypto/nonce"
	"github.com/fibergate/fibergate/internal/redistest"
	"github.com/fibergate/fibergate/replay"
	"github.com/redis/go-redis/v9"
)

// failBound is how long any call may take while Redis is down or hung:
// the test client's timeouts (250 ms each) plus scheduling slack.
const failBound = 2 * time.Second

// testClient returns a client for srv with short timeouts, closed when t
// ends.
func testClient(t testing.TB, srv *redistest.Server) *redis.Client {
	t.Helper()
	c := NewRedisClient(RedisClientOptions{
		Addr:         srv.Addr,
		DialTimeout:  250 * time.Millisecond,
		ReadTimeout:  250 * time.Millisecond,
		WriteTimeout: 250 * time.Millisecond,
		PoolSize:     8,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// replica is one process's view: a store over its own client.
type replica struct {
	store *Redis
	c     *redis.Client
	errs  *opLog
}

// opLog records the operations OnError was told about.
type opLog struct {
	mu  sync.Mutex
	ops []string
}

func (l *opLog) add(op string, _ error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, op)
}

func (l *opLog) has(op string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.ops, op)
}

// newReplica makes a store on srv; when run is set its Run goroutine is
// started (and stopped when t ends) and the subscription awaited.
func newReplica(t testing.TB, srv *redistest.Server, sk *fernet.Key, opts RedisOptions, run bool) *replica {
	t.Helper()
	r := &replica{c: testClient(t, srv), errs: &opLog{}}
	opts.Client, opts.StorageKey, opts.OnError = r.c, sk, r.errs.add
	s, err := NewRedis(opts)
	if err != nil {
		t.Fatal(err)
	}
	r.store = s
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.Run(ctx, time.Minute); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		waitUntil(t, "the invalidation subscription", s.Healthy)
	}
	return r
}

// waitUntil is waitFor with a longer bound, for recoveries that include a
// reconnect backoff.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNewRedisRejects(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	for name, opts := range map[string]RedisOptions{
		"no client":      {StorageKey: storageKey(t)},
		"no storage key": {Client: c},
	} {
		if _, err := NewRedis(opts); err == nil {
			t.Errorf("%s: got no error", name)
		}
	}
}

func TestRedisPutRejects(t *testing.T) {
	// Refusals happen before Redis is contacted: no server needed.
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	s, err := NewRedis(RedisOptions{Client: c, StorageKey: storageKey(t), TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	good := entry(t, 1, "u")
	tests := []struct {
		name string
		e    *Entry
		want error
	}{
		{"nil entry", nil, ErrInvalidEntry},
		{"nil key", &Entry{Validator: validator(1), UUID: "u"}, ErrInvalidEntry},
		{"empty uuid", &Entry{Validator: validator(1), Key: good.Key}, ErrInvalidEntry},
		{"uuid too long", &Entry{Validator: validator(1), UUID: strings.Repeat("a", MaxUUIDLen+1), Key: good.Key}, ErrInvalidEntry},
		{"zero validator", &Entry{UUID: "u", Key: good.Key}, ErrInvalidEntry},
		{"already expired", &Entry{Validator: validator(1), UUID: "u", Key: good.Key, Expires: t0}, ErrExpired},
		{"created a TTL ago", &Entry{Validator: validator(1), UUID: "u", Key: good.Key, Created: t0.Add(-time.Hour)}, ErrExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Put(tc.e, t0); !errors.Is(err, tc.want) {
				t.Errorf("Put: got %v, want %v", err, tc.want)
			}
		})
	}
}

// A key put through one replica is found by another, with its times, and
// expires with the TTL on both.
func TestRedisSharedAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	sk := storageKey(t)
	a := newReplica(t, srv, sk, RedisOptions{TTL: time.Hour}, true)
	b := newReplica(t, srv, sk, RedisOptions{TTL: time.Hour}, true)

	e := entry(t, 1, "u1")
	if err := a.store.Put(e, t0); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*replica{"a": a, "b": b} {
		for _, now := range []time.Time{t0, t0.Add(time.Hour - time.Nanosecond)} {
			got, err := r.store.Get(validator(1), []byte("u1"), now)
			if err != nil {
				t.Fatalf("%s: Get at %v: %v", name, now, err)
			}
			if got.Key.Raw() != e.Key.Raw() || !got.Created.Equal(t0) || !got.Expires.Equal(t0.Add(time.Hour)) || got.Validator != validator(1) || got.UUID != "u1" {
				t.Errorf("%s: got %+v, want the key put with Created %v, Expires %v", name, got, t0, t0.Add(time.Hour))
			}
		}
		if _, err := r.store.Get(validator(1), []byte("u1"), t0.Add(time.Hour)); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: Get at expiry: got %v, want ErrNotFound", name, err)
		}
		if _, err := r.store.Get(validator(1), []byte("other"), t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: Get of another uuid: got %v, want ErrNotFound", name, err)
		}
		if _, err := r.store.Get(validator(2), []byte("u1"), t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: Get of another validator: got %v, want ErrNotFound", name, err)
		}
	}
	if a.store.Len() != 1 || b.store.Len() != 1 {
		t.Errorf("Len (cached entries): got a %d, b %d, want 1 each", a.store.Len(), b.store.Len())
	}
}

// What Redis holds: the documented layout, expiry equal to the remaining
// life, and no key, validator-readable entry or uuid-readable value in
// clear; the value opens under the storage key to the entry.
func TestRedisLayoutHoldsNoSecret(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	sk := storageKey(t)
	r := newReplica(t, srv, sk, RedisOptions{Prefix: "fg-test:", TTL: time.Hour}, false)
	ctx := context.Background()

	e := entry(t, 7, "0123abcd")
	e.Expires = t0.Add(40 * time.Minute)
	if err := r.store.Put(e, t0.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	v7 := validator(7)
	vhex := hex.EncodeToString(v7[:])
	keys, err := srv.Do(ctx, "KEYS", "*")
	if err != nil {
		t.Fatal(err)
	}
	gotKeys := strings.Split(keys, "\n")
	slices.Sort(gotKeys)
	wantKeys := []string{"fg-test:key:" + vhex + ":0123abcd", "fg-test:keygen", "fg-test:keyidx:" + vhex}
	if !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("keys in Redis: got %q, want %q", gotKeys, wantKeys)
	}

	value, err := srv.Do(ctx, "GET", wantKeys[0])
	if err != nil {
		t.Fatal(err)
	}
	raw := e.Key.Raw()
	for name, form := range map[string]string{
		"raw bytes":       string(raw[:]),
		"url-safe b64":    base64.URLEncoding.EncodeToString(raw[:]),
		"std b64":         base64.StdEncoding.EncodeToString(raw[:]),
		"unpadded b64":    base64.RawURLEncoding.EncodeToString(raw[:]),
		"hex":             hex.EncodeToString(raw[:]),
		"signing half":    string(raw[:16]),
		"encrypting half": string(raw[16:]),
		"validator hex":   vhex,
		"uuid":            "0123abcd",
	} {
		if strings.Contains(value, form) {
			t.Errorf("the stored value holds the %s in clear", name)
		}
	}
	plain, _, err := sk.Decrypt(nil, []byte(value))
	if err != nil {
		t.Fatalf("the stored value does not open under the storage key: %v", err)
	}
	if !bytes.Contains(plain, []byte(`"uuid":"0123abcd"`)) || !bytes.Contains(plain, []byte(base64.URLEncoding.EncodeToString(raw[:]))) {
		t.Errorf("the opened value does not hold the entry: %s", plain)
	}
	if _, _, err := storageKey(t).Decrypt(nil, []byte(value)); err == nil {
		t.Error("the stored value opens under another storage key")
	}

	// Expiry: the entry's remaining life at Put (30 min), the index at
	// least as long.
	for _, k := range wantKeys[1:] {
		if k == "fg-test:keygen" {
			continue
		}
		pttl, _ := srv.Do(ctx, "PTTL", k)
		if ms, _ := strconv.Atoi(pttl); ms < int((29 * time.Minute).Milliseconds()) {
			t.Errorf("PTTL %s: got %s ms, want about 30 min", k, pttl)
		}
	}
	pttl, _ := srv.Do(ctx, "PTTL", wantKeys[0])
	if ms, _ := strconv.Atoi(pttl); ms <= int((29*time.Minute).Milliseconds()) || ms > int((30*time.Minute).Milliseconds()) {
		t.Errorf("PTTL of the entry: got %s ms, want the remaining 30 min", pttl)
	}
	idx, _ := srv.Do(ctx, "ZRANGE", wantKeys[2], "0", "-1", "WITHSCORES")
	if want := "0123abcd\n" + strconv.FormatInt(t0.Add(10*time.Minute).UnixMicro(), 10); idx != want {
		t.Errorf("index: got %q, want %q (uuid scored by creation in µs)", idx, want)
	}
}

// The cap holds across replicas: whichever replica stores a validator's
// keys, only the newest MaxPerValidator remain, the oldest (by Created,
// then uuid) going first, and every replica stops using an evicted key.
func TestRedisCapAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	sk := storageKey(t)
	opts := RedisOptions{MaxPerValidator: 3, TTL: time.Hour}
	a := newReplica(t, srv, sk, opts, true)
	b := newReplica(t, srv, sk, opts, true)
	stores := []*Redis{a.store, b.store}

	for i := range 3 {
		if err := stores[i%2].Put(entry(t, 1, fmt.Sprint("u", i)), t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	now := t0.Add(20 * time.Second)
	// Both replicas read (and cache) every key.
	for _, s := range stores {
		for i := range 3 {
			if _, err := s.Get(validator(1), []byte(fmt.Sprint("u", i)), now); err != nil {
				t.Fatalf("Get u%d: %v", i, err)
			}
		}
	}
	// Refreshing u0 on b makes u1 the oldest; another validator is not
	// affected; u3 on a evicts u1 everywhere.
	if err := b.store.Put(entry(t, 1, "u0"), t0.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := b.store.Put(entry(t, 2, "other"), t0); err != nil {
		t.Fatal(err)
	}
	if err := a.store.Put(entry(t, 1, "u3"), t0.Add(11*time.Second)); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Redis{"a": a.store, "b": b.store} {
		// A request's nonce round trip tells the store how far to trust
		// its cache; do what the proxy does.
		observe(t, srv, s)
		for uuid, want := range map[string]bool{"u0": true, "u1": false, "u2": true, "u3": true} {
			_, err := s.Get(validator(1), []byte(uuid), now)
			if got := err == nil; got != want || (err != nil && !errors.Is(err, ErrNotFound)) {
				t.Errorf("%s: after the cap: Get %s got %v, want found %v", name, uuid, err, want)
			}
		}
		if _, err := s.Get(validator(2), []byte("other"), now); err != nil {
			t.Errorf("%s: the cap of validator 1 evicted validator 2's key: %v", name, err)
		}
	}
	idx, err := srv.Do(context.Background(), "ZRANGE", a.store.IndexKey(validator(1)), "0", "-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := "u2\nu0\nu3"; idx != want {
		t.Errorf("index after the cap: got %q, want %q", idx, want)
	}
	if got, _ := srv.Do(context.Background(), "EXISTS", a.store.EntryKey(validator(1), []byte("u1"))); got != "0" {
		t.Errorf("the evicted entry is still in Redis (EXISTS %s)", got)
	}
}

// observe reads the generation as the replay guard would with a nonce.
func observe(t testing.TB, srv *redistest.Server, s *Redis) {
	t.Helper()
	g, err := srv.Do(context.Background(), "GET", s.GenerationKey())
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(g, 10, 64)
	if err != nil {
		t.Fatalf("generation %q: %v", g, err)
	}
	s.ObserveGeneration(n)
}

// Many replicas adding keys for one validator at once never leave more
// than the cap, in the index or as entries.
func TestRedisCapConcurrent(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	sk := storageKey(t)
	const capN, replicas, perReplica = 8, 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, replicas*perReplica)
	for r := range replicas {
		s := newReplica(t, srv, sk, RedisOptions{MaxPerValidator: capN}, false).store
		wg.Go(func() {
			for i := range perReplica {
				e := entry(t, 1, fmt.Sprintf("r%d-%02d", r, i))
				if err := s.Put(e, t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ctx := context.Background()
	probe := newReplica(t, srv, sk, RedisOptions{}, false).store
	if n, _ := srv.Do(ctx, "ZCARD", probe.IndexKey(validator(1))); n != strconv.Itoa(capN) {
		t.Errorf("index holds %s uuids, want %d", n, capN)
	}
	keys, _ := srv.Do(ctx, "KEYS", probe.prefix+"key:*")
	if n := len(strings.Split(keys, "\n")); n != capN {
		t.Errorf("Redis holds %d entries, want %d:\n%s", n, capN, keys)
	}
	// The newest survive: every replica's last puts (Created t0+24ms,
	// t0+23ms) are among them.
	for r := range replicas {
		u := fmt.Sprintf("r%d-%02d", r, perReplica-1)
		if _, err := probe.Get(validator(1), []byte(u), t0.Add(time.Second)); err != nil {
			t.Errorf("the newest key %s was evicted: %v", u, err)
		}
	}
}

// A key exchanged again under the same uuid on one replica is what the
// other uses on its very next request, with no wait for the publication:
// the replay guard's nonce round trip carries the generation.
func TestRedisReexchangeSeenAtOnce(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	sk := storageKey(t)
	a := newReplica(t, srv, sk, RedisOptions{}, true)
	b := newReplica(t, srv, sk, RedisOptions{}, true)
	guardA, err := replay.NewRedis(replay.RedisOptions{Client: a.c, Sync: a.store})
	if err != nil {
		t.Fatal(err)
	}
	// A Redis whose nonce floor was set long ago, not one just found empty
	// (which would refuse the nonces stamped before the hold).
	if err := a.c.Set(context.Background(), guardA.FloorKey(), "0", 0).Err(); err != nil {
		t.Fatal(err)
	}
	v, u := validator(3), []byte("same-uuid")
	now := time.Now()
	for i := range 200 {
		e := &Entry{Validator: v, UUID: string(u), Key: newKey(t, fmt.Sprint("key ", i))}
		put, get := b.store, a.store
		if i%2 == 1 {
			put, get = a.store, b.store
		}
		if err := put.Put(e, now); err != nil {
			t.Fatal(err)
		}
		// The other replica's request: nonce first, then the key.
		if get == a.store {
			ts := now.UnixNano()
			if err := guardA.Remember(nonce.Scope{Who: v}, []byte(fmt.Sprintf("%d_n%d", ts, i)), ts, ts); err != nil {
				t.Fatal(err)
			}
		} else {
			observe(t, srv, b.store)
		}
		got, err := get.Get(v, u, now)
		if err != nil {
			t.Fatalf("round %d: Get after the re-exchange: %v", i, err)
		}
		if got.Key.Raw() != e.Key.Raw() {
			t.Fatalf("round %d: the other replica used the old key", i)
		}
	}
	// Without any nonce, the publication alone updates the cache soon.
	e := &Entry{Validator: v, UUID: string(u), Key: newKey(t, "last")}
	if err := b.store.Put(e, now); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the publication to reach the other replica", func() bool {
		got, err := a.store.Get(v, u, now)
		return err == nil && got.Key.Raw() == e.Key.Raw()
	})
	if !a.store.cacheUsable() {
		t.Error("the cache is not in use once every change is applied")
	}
}

func TestRedisDelete(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	sk := storageKey(t)
	a := newReplica(t, srv, sk, RedisOptions{}, true)
	b := newReplica(t, srv, sk, RedisOptions{}, true)
	a.store.Put(entry(t, 1, "a"), t0)
	a.store.Put(entry(t, 1, "b"), t0)
	for _, u := range []string{"a", "b"} {
		if _, err := b.store.Get(validator(1), []byte(u), t0); err != nil {
			t.Fatal(err)
		}
	}
	a.store.Delete(validator(1), []byte("a"))
	a.store.Delete(validator(1), []byte("missing"))
	observe(t, srv, b.store)
	for name, s := range map[string]*Redis{"a": a.store, "b": b.store} {
		if _, err := s.Get(validator(1), []byte("a"), t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: Get after Delete: got %v, want ErrNotFound", name, err)
		}
		if _, err := s.Get(validator(1), []byte("b"), t0); err != nil {
			t.Errorf("%s: Delete removed a sibling: %v", name, err)
		}
	}
	if idx, _ := srv.Do(context.Background(), "ZRANGE", a.store.IndexKey(validator(1)), "0", "-1"); idx != "b" {
		t.Errorf("index after Delete: got %q, want %q", idx, "b")
	}
}

// A value moved to another validator's or uuid's key, sealed under another
// storage key, or damaged is never served: it is no key (the validator
// exchanges a new one, which replaces it), never the moved key, never a
// lasting 503; OnError is told (RedisOpDecode).
func TestRedisRefusesForeignValues(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	sk := storageKey(t)
	r := newReplica(t, srv, sk, RedisOptions{}, false)
	other := newReplica(t, srv, storageKey(t), RedisOptions{Prefix: "other:"}, false)
	ctx := context.Background()
	if err := r.store.Put(entry(t, 1, "u"), t0); err != nil {
		t.Fatal(err)
	}
	if err := other.store.Put(entry(t, 1, "u"), t0); err != nil {
		t.Fatal(err)
	}
	good, _ := srv.Do(ctx, "GET", r.store.EntryKey(validator(1), []byte("u")))
	foreign, _ := srv.Do(ctx, "GET", other.store.EntryKey(validator(1), []byte("u")))
	tests := []struct {
		name  string
		v     [32]byte
		uuid  string
		value string
	}{
		{"moved to another validator", validator(2), "u", good},
		{"moved to another uuid", validator(1), "w", good},
		{"another storage key", validator(3), "u", foreign},
		{"damaged", validator(4), "u", good[:len(good)-4] + "AAAA"},
		{"not a token", validator(5), "u", "hello"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := srv.Do(ctx, "SET", r.store.EntryKey(tc.v, []byte(tc.uuid)), tc.value); err != nil {
				t.Fatal(err)
			}
			_, err := r.store.Get(tc.v, []byte(tc.uuid), t0)
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("Get: got %v, want ErrNotFound", err)
			}
			// A new exchange replaces the bad value.
			e := entry(t, 9, tc.uuid)
			e.Validator = tc.v
			if err := r.store.Put(e, t0); err != nil {
				t.Fatal(err)
			}
			if got, err := r.store.Fresh(tc.v, []byte(tc.uuid), t0); err != nil || got.Key.Raw() != e.Key.Raw() {
				t.Errorf("after a new exchange: got %v, %v; want the new key", got, err)
			}
		})
	}
	if !r.errs.has(RedisOpDecode) {
		t.Error("OnError was not told of the refused values")
	}
}

// Redis down: every call fails fast with ErrUnavailable, cached keys are
// not served once the subscription is lost, and all comes back without a
// new store when Redis returns (its data lost: nothing persisted).
func TestRedisOutageAndRecovery(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	sk := storageKey(t)
	a := newReplica(t, srv, sk, RedisOptions{}, true)
	now := time.Now()
	if err := a.store.Put(entry(t, 1, "u"), now); err != nil {
		t.Fatal(err)
	}
	genBefore := a.store.seen.Load()

	srv.Stop()
	waitFor(t, "the store to notice the lost subscription", func() bool { return !a.store.Healthy() })
	for name, call := range map[string]func() error{
		"Get cached": func() error { _, err := a.store.Get(validator(1), []byte("u"), now); return err },
		"Get other":  func() error { _, err := a.store.Get(validator(1), []byte("x"), now); return err },
		"Put":        func() error { return a.store.Put(entry(t, 1, "v"), now) },
	} {
		start := time.Now()
		err := call()
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s with Redis down: got %v, want ErrUnavailable", name, err)
		}
		if d := time.Since(start); d > failBound {
			t.Errorf("%s with Redis down took %v, want under %v", name, d, failBound)
		}
	}
	for _, op := range []string{RedisOpGet, RedisOpPut, RedisOpSubscription} {
		if !a.errs.has(op) {
			t.Errorf("OnError was not told of a failed %s", op)
		}
	}

	srv.Restart()
	waitUntil(t, "the subscription to come back", a.store.Healthy)
	if err := a.store.Put(entry(t, 1, "u"), now); err != nil {
		t.Fatalf("Put after Redis came back: %v", err)
	}
	if _, err := a.store.Get(validator(1), []byte("u"), now); err != nil {
		t.Fatalf("Get after Redis came back: %v", err)
	}
	if g := a.store.seen.Load(); g <= genBefore {
		t.Errorf("generation after a restart that lost it: got %d, want above %d", g, genBefore)
	}
	if !a.store.cacheUsable() {
		t.Error("the cache is not in use again after recovery")
	}
}

// A hung Redis (accepting, never answering) fails calls within the
// timeouts instead of hanging them.
func TestRedisHungFailsFast(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	r := newReplica(t, srv, storageKey(t), RedisOptions{}, false)
	now := time.Now()
	if err := r.store.Put(entry(t, 1, "u"), now); err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	defer srv.Resume()
	start := time.Now()
	_, err := r.store.Get(validator(1), []byte("u"), now)
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Get with Redis hung: got %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > failBound {
		t.Errorf("Get with Redis hung took %v, want under %v", d, failBound)
	}
	srv.Resume()
	waitUntil(t, "Get to work again", func() bool {
		_, err := r.store.Get(validator(1), []byte("u"), now)
		return err == nil
	})
}

// A password-protected Redis works with the password and refuses without.
func TestRedisPassword(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Password: "s3cret"})
	sk := storageKey(t)
	mk := func(pw string) *Redis {
		c := NewRedisClient(RedisClientOptions{Addr: srv.Addr, Password: pw, ReadTimeout: 250 * time.Millisecond})
		t.Cleanup(func() { c.Close() })
		s, err := NewRedis(RedisOptions{Client: c, StorageKey: sk})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if err := mk("s3cret").Put(entry(t, 1, "u"), time.Now()); err != nil {
		t.Errorf("Put with the password: %v", err)
	}
	if err := mk("wrong").Put(entry(t, 1, "u"), time.Now()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Put with a wrong password: got %v, want ErrUnavailable", err)
	}
}

func TestRedisSweep(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	r := newReplica(t, srv, storageKey(t), RedisOptions{TTL: time.Hour}, true)
	for i := range 4 {
		if err := r.store.Put(entry(t, i, "u"), t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if r.store.Len() != 4 {
		t.Fatalf("Len: got %d, want 4", r.store.Len())
	}
	if got := r.store.Sweep(t0.Add(time.Hour + 90*time.Second)); got != 2 {
		t.Errorf("Sweep: removed %d, want 2", got)
	}
	if r.store.Len() != 2 {
		t.Errorf("Len after Sweep: got %d, want 2", r.store.Len())
	}
}

// The cached path is what requests take: it must not allocate.
func TestRedisCachedGetDoesNotAllocate(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	r := newReplica(t, srv, storageKey(t), RedisOptions{}, true)
	now := time.Now()
	if err := r.store.Put(entry(t, 1, "uuid"), now); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the put to be applied", r.store.cacheUsable)
	v, u := validator(1), []byte("uuid")
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := r.store.Get(v, u, now); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("cached Get: got %v allocations, want 0", allocs)
	}
}

// Messages on the channel that are not the store's own are ignored; a bare
// generation only raises the applied generation.
func TestRedisApply(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	s, err := NewRedis(RedisOptions{Client: c, StorageKey: storageKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	s.healthy.Store(true)
	e := entry(t, 1, "u")
	e.Expires = t0.Add(time.Hour)
	s.fill(e, 5, s.epoch.Load())
	v1 := validator(1)
	vhex := hex.EncodeToString(v1[:])
	for _, msg := range []string{"", "x", "x:" + vhex + ":u", "4:" + vhex + ":u", "9:short:u", "9:" + vhex, "7"} {
		s.apply(msg)
	}
	if s.Len() != 1 {
		t.Errorf("foreign or older messages dropped the entry: Len %d", s.Len())
	}
	if got := s.applied.Load(); got != 7 {
		t.Errorf("applied generation: got %d, want 7", got)
	}
	s.apply("8:" + vhex + ":u")
	if s.Len() != 0 {
		t.Errorf("a newer change did not drop the entry: Len %d", s.Len())
	}
	// A fill read before a change already applied to the shard is stale.
	s.fill(e, 6, s.epoch.Load())
	if s.Len() != 0 {
		t.Error("a fill read before an applied change was cached")
	}
	s.fill(e, 8, s.epoch.Load())
	if s.Len() != 1 {
		t.Error("a fill read at the applied change was not cached")
	}
	s.fill(e, 9, s.epoch.Load()-1)
	s.reset()
	if s.Len() != 0 {
		t.Errorf("reset left %d entries", s.Len())
	}
	s.fill(e, 9, s.epoch.Load()-1)
	if s.Len() != 0 {
		t.Error("a fill from before the reset was cached")
	}
}
