package replay

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/nonce"
	"github.com/fibergate/fibergate/internal/redistest"
)

// lossCase is two replicas sharing a Redis that is about to lose its
// nonces: a accepted a nonce stamped at the clock and one stamped 30 s
// ahead (a validator whose clock runs fast); b accepted one of its own
// before either, so b never read a horizon that covers a's fast nonce.
type lossCase struct {
	srv          *redistest.Server
	a, b         *Redis
	lostA, lostB atomic.Int32
	n1, n2, n3   nonce.Record
	hold         time.Duration
}

func newLossCase(t *testing.T) *lossCase {
	t.Helper()
	lc := &lossCase{srv: redistest.Start(t, redistest.Options{}), hold: 600 * time.Millisecond}
	lc.a = newRedis(t, newClient(t, lc.srv), RedisOptions{RecoveryHold: lc.hold, OnLost: func(int64, bool) { lc.lostA.Add(1) }})
	lc.b = newRedis(t, newClient(t, lc.srv), RedisOptions{RecoveryHold: lc.hold, OnLost: func(int64, bool) { lc.lostB.Add(1) }})
	ahead := t0 + int64(30*time.Second)
	lc.n1 = nonce.Record{Scope: alice, Nonce: fiberNonce(t0, "n1"), TS: t0}
	lc.n2 = nonce.Record{Scope: alice, Nonce: fiberNonce(ahead, "n2"), TS: ahead}
	lc.n3 = nonce.Record{Scope: bob, Nonce: fiberNonce(t0, "n3"), TS: t0}
	for _, step := range []struct {
		g *Redis
		r nonce.Record
	}{{lc.b, lc.n3}, {lc.a, lc.n1}, {lc.a, lc.n2}} {
		if err := step.g.Remember(step.r.Scope, step.r.Nonce, step.r.TS, t0); err != nil {
			t.Fatal(err)
		}
	}
	return lc
}

func (lc *lossCase) remember(g *Redis, r nonce.Record, now int64) error {
	return g.Remember(r.Scope, r.Nonce, r.TS, now)
}

// afterLoss plays the loss's aftermath: the first request after it reaches
// b, which finds the floor gone; a notices within the hold (as Watch
// does); after the hold no nonce accepted before the loss is accepted
// again, on either replica, and fresh nonces are.
func (lc *lossCase) afterLoss(t *testing.T) {
	t.Helper()
	now := t0 + int64(time.Second)
	for _, r := range []nonce.Record{lc.n1, lc.n2} {
		if err := lc.remember(lc.b, r, now); !errors.Is(err, nonce.ErrUnverifiable) {
			t.Fatalf("replay of %s on b right after the loss: got %v, want ErrUnverifiable", r.Nonce, err)
		}
	}
	if lc.lostB.Load() != 1 {
		t.Errorf("b told OnLost %d times, want once", lc.lostB.Load())
	}
	// During the hold even a fresh nonce waits.
	fresh := now + int64(time.Millisecond)
	if err := lc.b.Remember(bob, fiberNonce(fresh, "f0"), fresh, fresh); !errors.Is(err, nonce.ErrUnverifiable) {
		t.Errorf("fresh nonce during the hold: got %v, want ErrUnverifiable", err)
	}
	if err := lc.a.Check(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	if lc.lostA.Load() != 1 {
		t.Errorf("a, which saw the floor b set, told OnLost %d times, want once", lc.lostA.Load())
	}
	if lc.a.Floor() < lc.n2.TS {
		t.Errorf("a's floor %+d ms, want past its fast nonce at %+d ms", (lc.a.Floor()-t0)/1e6, (lc.n2.TS-t0)/1e6)
	}
	time.Sleep(lc.hold + 200*time.Millisecond)
	for _, g := range []*Redis{lc.a, lc.b} {
		for _, r := range []nonce.Record{lc.n1, lc.n2, lc.n3} {
			if err := lc.remember(g, r, now); !errors.Is(err, nonce.ErrUnverifiable) {
				t.Errorf("replay of %s after the hold: got %v, want ErrUnverifiable", r.Nonce, err)
			}
		}
	}
	later := lc.n2.TS + int64(time.Millisecond)*2
	if err := lc.b.Remember(bob, fiberNonce(later, "f1"), later, now+int64(29*time.Second)); err != nil {
		t.Errorf("fresh nonce after the floor: %v", err)
	}
	if err := lc.a.Remember(bob, fiberNonce(later, "f1"), later, now+int64(29*time.Second)); !errors.Is(err, nonce.ErrReplayed) {
		t.Errorf("its replay on a: got %v, want ErrReplayed", err)
	}
}

// TestRedisFlushAll: FLUSHALL takes the nonces; no replica accepts one of them
// again, the one stamped 30 s ahead included.
func TestRedisFlushAll(t *testing.T) {
	lc := newLossCase(t)
	if _, err := lc.srv.Do(context.Background(), "FLUSHALL"); err != nil {
		t.Fatal(err)
	}
	lc.afterLoss(t)
}

// TestRedisTwoLossesInARow: two flushes a moment apart are two losses for the
// replica that finds them.
func TestRedisTwoLossesInARow(t *testing.T) {
	lc := newLossCase(t)
	for i := range 2 {
		if _, err := lc.srv.Do(context.Background(), "FLUSHALL"); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UnixNano()
		if err := lc.b.Check(context.Background(), now); err != nil {
			t.Fatal(err)
		}
		if got := lc.lostB.Load(); got != int32(i+1) {
			t.Fatalf("after flush %d: OnLost told %d times", i+1, got)
		}
	}
}

// TestRedisFlushDB: the same for FLUSHDB.
func TestRedisFlushDB(t *testing.T) {
	lc := newLossCase(t)
	if _, err := lc.srv.Do(context.Background(), "FLUSHDB"); err != nil {
		t.Fatal(err)
	}
	lc.afterLoss(t)
}

// TestRedisRestartWithoutPersistence: a restarted Redis that kept nothing.
func TestRedisRestartWithoutPersistence(t *testing.T) {
	lc := newLossCase(t)
	lc.srv.Stop()
	lc.srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for lc.b.Check(context.Background(), t0+int64(time.Second)) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the replica did not reconnect to the restarted Redis")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// b's check found the floor gone and set the new one, as a request
	// would have.
	if lc.lostB.Load() != 1 {
		t.Fatalf("b told OnLost %d times, want once", lc.lostB.Load())
	}
	lc.lostB.Store(0)
	// From here as after a flush, but the loss is already found.
	now := t0 + int64(time.Second)
	if err := lc.a.Check(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	time.Sleep(lc.hold + 200*time.Millisecond)
	for _, g := range []*Redis{lc.a, lc.b} {
		for _, r := range []nonce.Record{lc.n1, lc.n2, lc.n3} {
			if err := lc.remember(g, r, now); !errors.Is(err, nonce.ErrUnverifiable) {
				t.Errorf("replay of %s after the restart: got %v, want ErrUnverifiable", r.Nonce, err)
			}
		}
	}
}

// TestRedisHorizonShared: the horizon a replica reads covers the nonces other
// replicas accepted, so one that finds the loss floors past them even when
// the replica that accepted them never notices.
func TestRedisHorizonShared(t *testing.T) {
	lc := newLossCase(t)
	// b reads the horizon with any call after a's fast nonce.
	if err := lc.b.Remember(bob, fiberNonce(t0+1, "n4"), t0+1, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.srv.Do(context.Background(), "FLUSHALL"); err != nil {
		t.Fatal(err)
	}
	now := t0 + int64(time.Second)
	lc.remember(lc.b, lc.n1, now) // finds the loss
	time.Sleep(lc.hold + 200*time.Millisecond)
	// a never checked; still its fast nonce is below the floor b set.
	if err := lc.remember(lc.b, lc.n2, now); !errors.Is(err, nonce.ErrUnverifiable) {
		t.Errorf("fast nonce replayed on b: got %v, want ErrUnverifiable", err)
	}
}

// TestRedisFloorAtFirstUse: a Redis that never had a floor (new, or emptied
// before any replica ran) is treated as one that lost its nonces, but not
// reported as a loss.
func TestRedisFloorAtFirstUse(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	var lost atomic.Int32
	g, err := NewRedis(RedisOptions{Client: newClient(t, srv), RecoveryHold: 300 * time.Millisecond, OnLost: func(int64, bool) { lost.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixNano()
	if err := g.Remember(alice, fiberNonce(now, "x"), now, now+int64(time.Millisecond)); !errors.Is(err, nonce.ErrUnverifiable) {
		t.Fatalf("first nonce on an empty Redis: got %v, want ErrUnverifiable", err)
	}
	var ue nonce.UnverifiableError
	if err := g.Remember(alice, fiberNonce(now, "x"), now, now); !errors.As(err, &ue) || ue.Floor < now {
		t.Errorf("a refusal during the hold: %v, want one whose floor says when to come back", err)
	}
	if lost.Load() != 0 {
		t.Errorf("OnLost told %d times at a first use, want none (a new Redis is no loss)", lost.Load())
	}
	time.Sleep(500 * time.Millisecond)
	fresh := time.Now().UnixNano()
	if err := g.Remember(alice, fiberNonce(fresh, "y"), fresh, fresh); err != nil {
		t.Errorf("a fresh nonce after the hold: %v", err)
	}
}

// TestRedisRefuse: while refusing (Redis may evict) every nonce is unavailable.
func TestRedisRefuse(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	g := newRedis(t, newClient(t, srv), RedisOptions{})
	g.Refuse(errors.New("maxmemory-policy allkeys-lru"))
	if err := g.Remember(alice, fiberNonce(t0, "x"), t0, t0); !errors.Is(err, nonce.ErrUnavailable) {
		t.Errorf("refusing: got %v, want ErrUnavailable", err)
	}
	g.Refuse(nil)
	if err := g.Remember(alice, fiberNonce(t0, "x"), t0, t0); err != nil {
		t.Errorf("after Refuse(nil): %v", err)
	}
}

// TestRedisEvictionLosesNonces shows why serve refuses an evicting Redis: under
// volatile-lru the nonce sets (which expire) are evicted when memory runs
// short while the floor (which never expires) stays, so nothing tells that
// a nonce is gone, and its replay is accepted.
func TestRedisEvictionLosesNonces(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	c := newClient(t, srv)
	g := newRedis(t, c, RedisOptions{})
	now := time.Now().UnixNano()
	n := fiberNonce(now, "evicted")
	if err := g.Remember(alice, n, now, now); err != nil {
		t.Fatal(err)
	}
	set, _ := g.Slot(alice, n, now)
	for _, kv := range [][2]string{{"maxmemory-policy", "volatile-lru"}, {"maxmemory", "4mb"}} {
		if _, err := srv.Do(ctx, "CONFIG", "SET", kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	pad := string(make([]byte, 16<<10))
	for i := 0; ; i++ {
		if c.Exists(ctx, set).Val() == 0 {
			break
		}
		if i > 5000 {
			t.Fatal("the nonce's set was never evicted")
		}
		c.Set(ctx, "junk:"+strconv.Itoa(i), pad, time.Hour)
	}
	if err := g.Remember(alice, n, now, now); err != nil {
		t.Fatalf("after eviction: %v; this test expects the replay to get through, showing the hazard", err)
	}
}
