package replay

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/nonce"
	"github.com/fibergate/fibergate/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// t0 is a fixed server clock, unix ns; nonces are stamped around it.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()

var (
	alice = nonce.Scope{Who: [32]byte{1}, Kind: nonce.KindHeader}
	bob   = nonce.Scope{Who: [32]byte{2}, Kind: nonce.KindHeader}
)

func fiberNonce(ts int64, suffix string) []byte {
	return []byte(strconv.FormatInt(ts, 10) + "_" + suffix)
}

func newClient(t testing.TB, srv *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr: srv.Addr, Protocol: 2, MaxRetries: -1, DialerRetries: 1,
		DialTimeout: 250 * time.Millisecond, ReadTimeout: 250 * time.Millisecond, WriteTimeout: 250 * time.Millisecond,
		PoolTimeout: 250 * time.Millisecond, DisableIdentity: true,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

func newRedis(t testing.TB, c redis.UniversalClient, opts RedisOptions) *Redis {
	t.Helper()
	opts.Client = c
	g, err := NewRedis(opts)
	if err != nil {
		t.Fatal(err)
	}
	// The tests stamp nonces around a fixed clock: the floor is set far
	// before it, as in a Redis that has been in use, unless a test set one.
	if err := c.SetNX(context.Background(), g.FloorKey(), "0", 0).Err(); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestNewRedisRejects(t *testing.T) {
	if _, err := NewRedis(RedisOptions{}); err == nil {
		t.Error("New without a client: got no error")
	}
}

// The same answers as Memory for every case, with two replicas (two
// guards on two clients) sharing one Redis.
func TestRedisRemember(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	window := 120 * time.Second
	a := newRedis(t, newClient(t, srv), RedisOptions{Window: window})
	b := newRedis(t, newClient(t, srv), RedisOptions{Window: window})
	w := int64(window)
	steps := []struct {
		name  string
		g     *Redis
		scope nonce.Scope
		n     []byte
		ts    int64
		now   int64
		want  error
	}{
		{"first sight on a", a, alice, fiberNonce(t0, "x"), t0, t0, nil},
		{"replay on b", b, alice, fiberNonce(t0, "x"), t0, t0, nonce.ErrReplayed},
		{"replay on a", a, alice, fiberNonce(t0, "x"), t0, t0 + w/2, nonce.ErrReplayed},
		{"same text, other signer", b, bob, fiberNonce(t0, "x"), t0, t0, nil},
		{"same text, body kind", b, nonce.Scope{Who: alice.Who, Kind: nonce.KindBody}, fiberNonce(t0, "x"), t0, t0, nil},
		{"oldest accepted", a, alice, fiberNonce(t0-w, "o"), t0 - w, t0, nil},
		{"one ns too old", a, alice, fiberNonce(t0-w-1, "o"), t0 - w - 1, t0, nonce.ErrTooOld},
		{"newest accepted", b, alice, fiberNonce(t0+w, "f"), t0 + w, t0, nil},
		{"one ns too new", b, alice, fiberNonce(t0+w+1, "f"), t0 + w + 1, t0, nonce.ErrTooNew},
		{"empty", a, alice, nil, t0, t0, nonce.ErrMalformed},
		{"too long", a, alice, []byte(strings.Repeat("1", nonce.MaxLen+1)), t0, t0, nonce.ErrMalformed},
		{"longest", a, alice, []byte(strings.Repeat("1", nonce.MaxLen)), t0, t0, nil},
	}
	for _, s := range steps {
		if err := s.g.Remember(s.scope, s.n, s.ts, s.now); !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Errorf("%s: got %v, want %v", s.name, err, s.want)
		}
	}
}

// A nonce lives in Redis until its own window ends, plus the clock skew
// allowance, not a fixed time from first sight: the set of its second
// expires when the last nanosecond of that second leaves the window.
func TestRedisExpiryAtWindowEnd(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	g := newRedis(t, newClient(t, srv), RedisOptions{Window: 120 * time.Second, ClockSkew: 3 * time.Second})
	ctx := context.Background()
	cases := []struct {
		name string
		ts   int64
		want time.Duration // the end of ts's second + window + skew - now
	}{
		{"stamped now", t0, 124 * time.Second},
		{"stamped 119 s ahead", t0 + int64(119*time.Second), 243 * time.Second},
		{"stamped 100 s ago", t0 - int64(100*time.Second), 24 * time.Second},
		{"stamped 99.5 s ago", t0 - int64(99500*time.Millisecond), 24 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := fiberNonce(tc.ts, "e")
			if err := g.Remember(alice, n, tc.ts, t0); err != nil {
				t.Fatal(err)
			}
			key, member := g.Slot(alice, n, tc.ts)
			got, err := srv.Do(ctx, "PTTL", key)
			if err != nil {
				t.Fatal(err)
			}
			ms, _ := strconv.ParseInt(got, 10, 64)
			if want := tc.want.Milliseconds(); ms > want || ms < want-1000 {
				t.Errorf("PTTL: got %d ms, want about %d ms", ms, want)
			}
			if v, _ := srv.Do(ctx, "SISMEMBER", key, member); v != "1" {
				t.Errorf("SISMEMBER: got %q, want 1", v)
			}
			if v, _ := srv.Do(ctx, "OBJECT", "ENCODING", key); v != "intset" {
				t.Errorf("the set's encoding: got %q, want intset (8 bytes a member)", v)
			}
		})
	}
	// A later nonce of an existing set never shortens the set's life.
	var later []byte
	key, _ := g.Slot(alice, fiberNonce(t0, "e"), t0)
	for i := 0; ; i++ { // a nonce of the same second that falls in the same set
		later = fiberNonce(t0, "later"+strconv.Itoa(i))
		if k, _ := g.Slot(alice, later, t0); k == key {
			break
		}
	}
	if err := g.Remember(alice, later, t0, t0+int64(50*time.Second)); err != nil {
		t.Fatal(err)
	}
	got, _ := srv.Do(ctx, "PTTL", key)
	if ms, _ := strconv.ParseInt(got, 10, 64); ms < 123000 {
		t.Errorf("PTTL after a later nonce of the same set: %s ms, want the set's first life, about 124000", got)
	}
}

// Slot spreads a second's nonces over 256 sets by their hash, and names
// each member by 64 bits of that hash, as a decimal integer.
func TestRedisSlot(t *testing.T) {
	g, err := NewRedis(RedisOptions{Client: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})})
	if err != nil {
		t.Fatal(err)
	}
	sec := strconv.FormatInt(t0/int64(time.Second), 10)
	sets := map[string]bool{}
	for i := range 4096 {
		n := fiberNonce(t0+999_999_999, strconv.Itoa(i))
		k, m := g.Slot(alice, n, t0+999_999_999)
		suffix, ok := strings.CutPrefix(k, "fibergate:nonce:"+sec+":")
		if v, err := strconv.Atoi(suffix); !ok || err != nil || v < 0 || v > 255 {
			t.Fatalf("key %q: want fibergate:nonce:%s:<0 to 255>", k, sec)
		}
		if v, err := strconv.ParseInt(m, 10, 64); err != nil || strconv.FormatInt(v, 10) != m {
			t.Fatalf("member %q: want a canonical 64-bit integer", m)
		}
		sets[k] = true
	}
	if len(sets) != 256 {
		t.Errorf("4096 nonces of one second went to %d sets, want all 256", len(sets))
	}
	if k, _ := g.Slot(alice, []byte("x"), -1); !strings.HasPrefix(k, "fibergate:nonce:-1:") {
		t.Errorf("key of -1 ns: %q, want the second before 0", k)
	}
	n := fiberNonce(t0, "e")
	_, m := g.Slot(alice, n, t0)
	for _, other := range []nonce.Scope{bob, {Who: alice.Who, Kind: nonce.KindBody}} {
		if _, m2 := g.Slot(other, n, t0); m2 == m {
			t.Errorf("the same nonce under %+v has the same member", other)
		}
	}
}

// The same nonce offered to two replicas at the same moment, many times
// over: exactly one acceptance each time.
func TestRedisConcurrentExactlyOnce(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	a := newRedis(t, newClient(t, srv), RedisOptions{})
	b := newRedis(t, newClient(t, srv), RedisOptions{})
	now := time.Now().UnixNano()
	const rounds = 1000
	for i := range rounds {
		n := fiberNonce(now, fmt.Sprintf("c%06d", i))
		var wins atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, g := range []*Redis{a, b} {
			wg.Go(func() {
				<-start
				switch err := g.Remember(alice, n, now, now); {
				case err == nil:
					wins.Add(1)
				case !errors.Is(err, nonce.ErrReplayed):
					t.Errorf("round %d: %v", i, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if w := wins.Load(); w != 1 {
			t.Fatalf("round %d: accepted %d times, want exactly once", i, w)
		}
	}
}

// sync records the generations a guard reports.
type sync0 struct {
	key  string
	seen atomic.Int64
}

func (s *sync0) GenerationKey() string       { return s.key }
func (s *sync0) ObserveGeneration(gen int64) { s.seen.Store(gen) }

// With a Sync, the generation is read in the same round trip and reported
// whether the nonce is accepted or refused.
func TestRedisSyncGeneration(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	s := &sync0{key: "fibergate:keygen"}
	g := newRedis(t, newClient(t, srv), RedisOptions{Sync: s})
	ctx := context.Background()
	n := fiberNonce(t0, "s")
	if err := g.Remember(alice, n, t0, t0); err != nil {
		t.Fatal(err)
	}
	if got := s.seen.Load(); got != 0 {
		t.Errorf("no generation in Redis: observed %d, want nothing", got)
	}
	if _, err := srv.Do(ctx, "SET", "fibergate:keygen", "1767323045000042"); err != nil {
		t.Fatal(err)
	}
	if err := g.Remember(alice, n, t0, t0); !errors.Is(err, nonce.ErrReplayed) {
		t.Fatalf("replay: got %v, want ErrReplayed", err)
	}
	if got := s.seen.Load(); got != 1767323045000042 {
		t.Errorf("observed generation: got %d, want 1767323045000042", got)
	}
}

// Redis down or hung: Remember refuses with ErrUnavailable within the
// client's timeouts, never accepts, and works again once Redis is back.
func TestRedisUnavailable(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	var fails atomic.Int32
	g := newRedis(t, newClient(t, srv), RedisOptions{OnError: func(error) { fails.Add(1) }})
	now := time.Now().UnixNano()
	check := func(what string, n []byte) {
		t.Helper()
		start := time.Now()
		if err := g.Remember(alice, n, now, now); !errors.Is(err, nonce.ErrUnavailable) {
			t.Errorf("%s: got %v, want ErrUnavailable", what, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: took %v, want a fast failure", what, d)
		}
	}
	srv.Pause()
	check("hung", fiberNonce(now, "h"))
	srv.Resume()
	srv.Stop()
	for i := range 3 {
		check("down", fiberNonce(now, fmt.Sprint("d", i)))
	}
	if fails.Load() < 4 {
		t.Errorf("OnError calls: got %d, want one per failure (4)", fails.Load())
	}
	srv.Restart()
	// The restarted Redis lost everything: a nonce stamped before it came
	// back cannot be shown unused and is refused; one signed after the
	// recovery hold is accepted.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := g.Remember(alice, fiberNonce(now, "back"), now, now)
		if errors.Is(err, nonce.ErrUnverifiable) {
			break
		}
		if err == nil {
			t.Fatal("after a Redis restart that lost the nonces, a nonce stamped before it was accepted")
		}
		if time.Now().After(deadline) {
			t.Fatalf("Remember after Redis came back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		fresh := time.Now().UnixNano()
		err := g.Remember(alice, fiberNonce(fresh, "fresh"), fresh, fresh)
		if err == nil {
			break
		}
		if !errors.Is(err, nonce.ErrUnverifiable) || time.Now().After(deadline) {
			t.Fatalf("a fresh nonce after Redis came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRedisLiveCount(t *testing.T) {
	l := newLiveCount(10*time.Second, time.Second)
	sec := int64(time.Second)
	now := t0
	for i := range 5 {
		l.add(now + int64(i)*sec)
	}
	l.add(now + 3*sec)
	if got := l.len(now); got != 6 {
		t.Errorf("len at start: got %d, want 6", got)
	}
	if got := l.len(now + 3*sec); got != 3 {
		t.Errorf("len 3 s later: got %d, want 3 (the records ending at +3 s and +4 s)", got)
	}
	if got := l.len(now + 5*sec); got != 0 {
		t.Errorf("len once all ended: got %d, want 0", got)
	}
	// A bucket reused for a later second starts from one.
	l.add(now + int64(len(l.b))*sec)
	if got := l.len(now + int64(len(l.b))*sec); got != 1 {
		t.Errorf("reused bucket: got %d, want 1", got)
	}
}

// Len counts this replica's live records through the wall clock.
func TestRedisLen(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	g := newRedis(t, newClient(t, srv), RedisOptions{})
	now := time.Now().UnixNano()
	for i := range 3 {
		if err := g.Remember(alice, fiberNonce(now, fmt.Sprint("l", i)), now, now); err != nil {
			t.Fatal(err)
		}
	}
	if got := g.Len(); got != 3 {
		t.Errorf("Len: got %d, want 3", got)
	}
}

// RememberPair records a header and a body nonce in one round trip, all or
// nothing, shared between replicas, and says which one was refused.
func TestRedisRememberPair(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	a := newRedis(t, newClient(t, srv), RedisOptions{})
	b := newRedis(t, newClient(t, srv), RedisOptions{})
	body := nonce.Scope{Who: alice.Who, Kind: nonce.KindBody}
	rec := func(s nonce.Scope, suffix string) nonce.Record {
		return nonce.Record{Scope: s, Nonce: fiberNonce(t0, suffix), TS: t0}
	}
	if i, err := a.RememberPair(rec(alice, "h1"), rec(body, "b1"), t0); err != nil {
		t.Fatalf("fresh pair: got index %d, %v", i, err)
	}
	// Replayed on the other replica: the header is refused first.
	if i, err := b.RememberPair(rec(alice, "h1"), rec(body, "b1"), t0); i != 0 || !errors.Is(err, nonce.ErrReplayed) {
		t.Errorf("replayed pair on B: got index %d, %v; want 0, ErrReplayed", i, err)
	}
	// A new header with a used body nonce: the body is refused, and the
	// header is not recorded, so it can still be used.
	if i, err := b.RememberPair(rec(alice, "h2"), rec(body, "b1"), t0); i != 1 || !errors.Is(err, nonce.ErrReplayed) {
		t.Errorf("used body nonce: got index %d, %v; want 1, ErrReplayed", i, err)
	}
	if i, err := a.RememberPair(rec(alice, "h2"), rec(body, "b2"), t0); err != nil {
		t.Errorf("the header of a refused pair was recorded: got index %d, %v", i, err)
	}
	// The same nonce twice: recorded once, the second refused.
	if i, err := a.RememberPair(rec(alice, "same"), rec(alice, "same"), t0); i != 1 || !errors.Is(err, nonce.ErrReplayed) {
		t.Errorf("the same nonce twice: got index %d, %v; want 1, ErrReplayed", i, err)
	}
	if err := b.Remember(alice, fiberNonce(t0, "same"), t0, t0); !errors.Is(err, nonce.ErrReplayed) {
		t.Errorf("after the same nonce twice: got %v, want it recorded once", err)
	}
	// Nonces of different seconds go to different sets, all or nothing.
	later := nonce.Record{Scope: body, Nonce: fiberNonce(t0+int64(5*time.Second), "b4"), TS: t0 + int64(5*time.Second)}
	if i, err := a.RememberPair(rec(alice, "h1"), later, t0); i != 0 || !errors.Is(err, nonce.ErrReplayed) {
		t.Errorf("used header, fresh body of another second: got index %d, %v; want 0, ErrReplayed", i, err)
	}
	if i, err := b.RememberPair(rec(alice, "h4"), later, t0); err != nil {
		t.Errorf("the body of a refused pair was recorded: got index %d, %v", i, err)
	}
	// A body nonce outside the window is refused before Redis is asked.
	old := nonce.Record{Scope: body, Nonce: fiberNonce(t0-int64(3*time.Minute), "b3"), TS: t0 - int64(3*time.Minute)}
	if i, err := a.RememberPair(rec(alice, "h3"), old, t0); i != 1 || !errors.Is(err, nonce.ErrTooOld) {
		t.Errorf("stale body nonce: got index %d, %v; want 1, ErrTooOld", i, err)
	}
	// The same pair sent to both replicas at once is accepted exactly once.
	for n := range 200 {
		ra, rb := rec(alice, fmt.Sprintf("c%d", n)), rec(body, fmt.Sprintf("d%d", n))
		var wins atomic.Int32
		var wg sync.WaitGroup
		for _, g := range []*Redis{a, b} {
			wg.Go(func() {
				if _, err := g.RememberPair(ra, rb, t0); err == nil {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("round %d: accepted %d times, want once", n, wins.Load())
		}
	}
}
