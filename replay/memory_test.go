package replay_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/nonce"
	"github.com/fibergate/fibergate/replay"
)

const (
	t0  = int64(1795640127845612470) // a server clock reading, unix ns
	sec = int64(time.Second)
)

var (
	alice = nonce.Scope{Who: [32]byte{1}, Kind: nonce.KindHeader}
	bob   = nonce.Scope{Who: [32]byte{2}, Kind: nonce.KindHeader}
)

func mk(ts int64, suffix string) []byte {
	return []byte(strconv.FormatInt(ts, 10) + "_" + suffix)
}

type step struct {
	name  string
	scope nonce.Scope
	nonce []byte
	ts    int64
	now   int64
	want  error
}

func run(t *testing.T, g *replay.Memory, steps []step) {
	t.Helper()
	for _, s := range steps {
		got := g.Remember(s.scope, s.nonce, s.ts, s.now)
		if (s.want == nil) != (got == nil) || !errors.Is(got, s.want) {
			t.Errorf("%s: Remember(%q, ts %+d s, now %+d s) = %v, want %v",
				s.name, s.nonce, (s.ts-t0)/sec, (s.now-t0)/sec, got, s.want)
		}
	}
}

func TestMemoryRememberReplay(t *testing.T) {
	g := replay.NewMemory(replay.MemoryOptions{})
	n := mk(t0, "P3gzXCkH5t")
	run(t, g, []step{
		{"first use", alice, n, t0, t0, nil},
		{"immediate replay", alice, n, t0, t0, nonce.ErrReplayed},
		{"replay a minute later", alice, n, t0, t0 + 60*sec, nonce.ErrReplayed},
		{"replay at the last accepted instant", alice, n, t0, t0 + 120*sec, nonce.ErrReplayed},
		{"replay once the timestamp left the window", alice, n, t0, t0 + 120*sec + 1, nonce.ErrTooOld},
	})
	if got := g.Len(); got != 1 {
		t.Errorf("Len() = %d, want 1", got)
	}
}

func TestMemoryRememberScopes(t *testing.T) {
	g := replay.NewMemory(replay.MemoryOptions{})
	n := mk(t0, "P3gzXCkH5t")
	aliceBody := nonce.Scope{Who: alice.Who, Kind: nonce.KindBody}
	bobBody := nonce.Scope{Who: bob.Who, Kind: nonce.KindBody}
	run(t, g, []step{
		{"alice header", alice, n, t0, t0, nil},
		{"bob header, same nonce", bob, n, t0, t0, nil},
		{"alice body, same nonce", aliceBody, n, t0, t0, nil},
		{"bob body, same nonce", bobBody, n, t0, t0, nil},
		{"alice header again", alice, n, t0, t0, nonce.ErrReplayed},
		{"bob body again", bobBody, n, t0, t0, nonce.ErrReplayed},
		{"alice header, other suffix", alice, mk(t0, "P3gzXCkH5u"), t0, t0, nil},
		{"alice header, nonce extended by a byte", alice, mk(t0, "P3gzXCkH5tX"), t0, t0, nil},
	})
	if got := g.Len(); got != 6 {
		t.Errorf("Len() = %d, want 6", got)
	}
}

// TestMemoryRememberUntilOwnExpiry is the nonce hole Fiber leaves: a nonce stamped
// 119 s ahead stays acceptable for 239 s, and must be refused as a replay
// for all of them, not just for the 120 s after first sight.
func TestMemoryRememberUntilOwnExpiry(t *testing.T) {
	g := replay.NewMemory(replay.MemoryOptions{Window: 120 * time.Second})
	ts := t0 + 119*sec
	n := mk(ts, "future")
	exp := ts + 120*sec
	run(t, g, []step{
		{"first sight", alice, n, ts, t0, nil},
		{"120 s after first sight (Fiber forgets here)", alice, n, ts, t0 + 120*sec + 1, nonce.ErrReplayed},
		{"200 s after first sight", alice, n, ts, t0 + 200*sec, nonce.ErrReplayed},
		{"at ts+window", alice, n, ts, exp, nonce.ErrReplayed},
		{"1 ns after ts+window", alice, n, ts, exp + 1, nonce.ErrTooOld},
	})
	if got := g.Sweep(t0 + 200*sec); got != 0 {
		t.Errorf("Sweep at +200 s forgot %d, want 0", got)
	}
	if got := g.Sweep(exp); got != 0 {
		t.Errorf("Sweep at ts+window forgot %d, want 0 (still acceptable at that instant)", got)
	}
	// A bucket is dropped once its last nanosecond has left the window:
	// within one bucket span after ts+window.
	if got := g.Sweep(exp + replay.BucketSpan); got != 1 {
		t.Errorf("Sweep a bucket span after ts+window forgot %d, want 1", got)
	}
	if got := g.Len(); got != 0 {
		t.Errorf("Len() after sweep = %d, want 0", got)
	}
	// Once forgotten, the window refuses it anyway.
	if err := nonce.CheckWindow(ts, exp+1, 120*time.Second); err != nonce.ErrTooOld {
		t.Errorf("CheckWindow after forgetting = %v, want ErrTooOld", err)
	}
}

func TestMemoryRememberRefusesOutsideWindow(t *testing.T) {
	g := replay.NewMemory(replay.MemoryOptions{Window: 10 * time.Second})
	run(t, g, []step{
		{"too old", alice, mk(t0-11*sec, "a"), t0 - 11*sec, t0, nonce.ErrTooOld},
		{"too new", alice, mk(t0+11*sec, "a"), t0 + 11*sec, t0, nonce.ErrTooNew},
		{"oldest accepted", alice, mk(t0-10*sec, "a"), t0 - 10*sec, t0, nil},
		{"newest accepted", alice, mk(t0+10*sec, "a"), t0 + 10*sec, t0, nil},
		{"empty nonce", alice, nil, t0, t0, nonce.ErrMalformed},
	})
	long := make([]byte, nonce.MaxLen+1)
	if err := g.Remember(alice, long, t0, t0); !errors.Is(err, nonce.ErrMalformed) {
		t.Errorf("Remember of a %d-byte nonce = %v, want ErrMalformed", len(long), err)
	}
	if got := g.Len(); got != 2 {
		t.Errorf("Len() = %d, want 2 (refused nonces are not recorded)", got)
	}
}

func TestMemoryRememberDefaultWindow(t *testing.T) {
	g := replay.NewMemory(replay.MemoryOptions{})
	w := int64(nonce.DefaultWindow)
	run(t, g, []step{
		{"default window, oldest", alice, mk(t0-w, "a"), t0 - w, t0, nil},
		{"default window, 1 ns older", alice, mk(t0-w-1, "a"), t0 - w - 1, t0, nonce.ErrTooOld},
		{"default window, newest", alice, mk(t0+w, "a"), t0 + w, t0, nil},
		{"default window, 1 ns newer", alice, mk(t0+w+1, "a"), t0 + w + 1, t0, nonce.ErrTooNew},
	})
}

// budgetFor returns a budget that holds a guard's fixed part and tables
// of exactly slots slots in all.
func budgetFor(shards int, window time.Duration, slots int) int64 {
	return replay.FixedBytes(shards, window) + int64(slots)*8
}

// TestMemoryRememberReusesExpiredBucket: a guard whose budget holds one table
// accepts new nonces once the old ones' bucket has left the window, without
// a Sweep, since starting a bucket drops the expired ones and reuses their
// memory.
func TestMemoryRememberReusesExpiredBucket(t *testing.T) {
	const w = 10 * time.Second
	g := replay.NewMemory(replay.MemoryOptions{Window: w, Shards: 1, MaxMemory: budgetFor(1, w, replay.SlotsOfClass(0))})
	later := t0 + int64(w) + replay.BucketSpan + 1
	run(t, g, []step{
		{"first", alice, mk(t0, "a"), t0, t0, nil},
		{"another second, no memory left", alice, mk(t0+3*sec, "b"), t0 + 3*sec, t0 + 3*sec, nonce.ErrFull},
		{"after the first bucket left the window", alice, mk(later, "b"), later, later, nil},
		{"replay of the new nonce", alice, mk(later, "b"), later, later + sec, nonce.ErrReplayed},
	})
	if got := g.Len(); got != 1 {
		t.Errorf("Len() = %d, want 1", got)
	}
}

// TestMemoryRememberFull: with memory for one small table, the guard takes 7/8
// of its slots, refuses the rest as ErrFull, still refuses every recorded
// nonce as replayed, and takes nonces again once their bucket expired.
func TestMemoryRememberFull(t *testing.T) {
	const w = 10 * time.Second
	slots := replay.SlotsOfClass(0)
	max := slots * 7 / 8
	g := replay.NewMemory(replay.MemoryOptions{Window: w, MaxMemory: budgetFor(1, w, slots), Shards: 1})
	var kept [][]byte
	full := 0
	for i := range 3 * max {
		n := mk(t0, "n"+strconv.Itoa(i))
		switch err := g.Remember(alice, n, t0, t0); err {
		case nil:
			kept = append(kept, n)
		case nonce.ErrFull:
			full++
		default:
			t.Fatalf("Remember #%d = %v, want nil or ErrFull", i, err)
		}
	}
	if len(kept) != max || full != 2*max {
		t.Fatalf("accepted %d and refused %d as full, want %d and %d", len(kept), full, max, 2*max)
	}
	if got := g.Len(); got != max {
		t.Fatalf("Len() = %d, want %d", got, max)
	}
	if got, budget := g.MemoryBytes(), g.MaxMemory(); got > budget {
		t.Fatalf("holds %d bytes, over its budget %d", got, budget)
	}
	// Full must not mean forgetful: recorded nonces still replay.
	for _, n := range kept {
		if err := g.Remember(alice, n, t0, t0+5*sec); err != nonce.ErrReplayed {
			t.Fatalf("replay of %q while full = %v, want ErrReplayed", n, err)
		}
	}
	// Nothing has left the window yet, so a sweep frees nothing.
	if got := g.Sweep(t0 + 10*sec); got != 0 {
		t.Fatalf("Sweep before expiry forgot %d, want 0", got)
	}
	if err := g.Remember(alice, mk(t0+10*sec, "x"), t0+10*sec, t0+10*sec); err != nonce.ErrFull {
		t.Fatalf("Remember while full = %v, want ErrFull", err)
	}
	if got := g.Sweep(t0 + 10*sec + replay.BucketSpan); got != max {
		t.Fatalf("Sweep after the bucket expired forgot %d, want %d", got, max)
	}
	if err := g.Remember(alice, mk(t0+10*sec, "x"), t0+10*sec, t0+10*sec+replay.BucketSpan); err != nil {
		t.Fatalf("Remember after sweep = %v, want nil", err)
	}
	if got := g.Len(); got != 1 {
		t.Fatalf("Len() after sweep and one insert = %d, want 1", got)
	}
}

// TestMemorySweepPartial: a sweep forgets no nonce whose timestamp is still in
// the window, and every nonce whose timestamp left it more than a bucket
// span ago.
func TestMemorySweepPartial(t *testing.T) {
	const w = 10 * time.Second
	g := replay.NewMemory(replay.MemoryOptions{Window: w})
	var tss []int64
	for i := range 100 {
		ts := t0 + int64(i)*sec/10 // 0 to 9.9 s
		if err := g.Remember(bob, mk(ts, "s"), ts, t0); err != nil {
			t.Fatalf("Remember #%d: %v", i, err)
		}
		tss = append(tss, ts)
	}
	now := t0 + 15*sec
	forgot := g.Sweep(now)
	mustKeep, mayForget := 0, 0
	for _, ts := range tss {
		switch {
		case ts+int64(w) >= now:
			mustKeep++
			if err := g.Remember(bob, mk(ts, "s"), ts, now); err != nonce.ErrReplayed {
				t.Errorf("replay of a nonce %v in the window after a sweep = %v, want ErrReplayed", time.Duration(ts+int64(w)-now), err)
			}
		case ts+int64(w)+replay.BucketSpan >= now:
			mayForget++
		}
	}
	mustForget := len(tss) - mustKeep - mayForget
	if forgot < mustForget || forgot > mustForget+mayForget {
		t.Errorf("Sweep forgot %d, want %d to %d", forgot, mustForget, mustForget+mayForget)
	}
	if got := g.Len(); got != len(tss)-forgot {
		t.Errorf("Len() = %d, want %d", got, len(tss)-forgot)
	}
}

// TestMemoryRememberConcurrentSameNonce races many goroutines on one nonce:
// exactly one may win.
func TestMemoryRememberConcurrentSameNonce(t *testing.T) {
	g := replay.NewMemory(replay.MemoryOptions{Shards: 4})
	n := mk(t0, "race")
	const workers = 64
	var wg sync.WaitGroup
	results := make(chan error, workers)
	start := make(chan struct{})
	for range workers {
		wg.Go(func() {
			<-start
			results <- g.Remember(alice, n, t0, t0)
		})
	}
	close(start)
	wg.Wait()
	close(results)
	ok, replayed := 0, 0
	for err := range results {
		switch err {
		case nil:
			ok++
		case nonce.ErrReplayed:
			replayed++
		default:
			t.Errorf("Remember = %v", err)
		}
	}
	if ok != 1 || replayed != workers-1 {
		t.Errorf("got %d accepted and %d replays, want 1 and %d", ok, replayed, workers-1)
	}
}

// TestMemoryRememberConcurrentDistinct has goroutines record distinct nonces, all
// of them in a few shards, while another sweeps.
func TestMemoryRememberConcurrentDistinct(t *testing.T) {
	g := replay.NewMemory(replay.MemoryOptions{Shards: 2})
	const workers, each = 8, 500
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	sweeper := make(chan int)
	go func() {
		n := 0
		for ctx.Err() == nil {
			n += g.Sweep(t0) // nothing is expired at t0
		}
		sweeper <- n
	}()
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				n := mk(t0, strconv.Itoa(w)+"x"+strconv.Itoa(i))
				if err := g.Remember(bob, n, t0, t0); err != nil {
					t.Errorf("Remember(%q) = %v, want nil", n, err)
				}
			}
		})
	}
	wg.Wait()
	cancel()
	if n := <-sweeper; n != 0 {
		t.Errorf("concurrent sweeps forgot %d live entries", n)
	}
	if got := g.Len(); got != workers*each {
		t.Errorf("Len() = %d, want %d", got, workers*each)
	}
}

func TestMemoryRun(t *testing.T) {
	const window = 50 * time.Millisecond
	g := replay.NewMemory(replay.MemoryOptions{Window: window})
	now := time.Now().UnixNano()
	for i := range 10 {
		if err := g.Remember(alice, mk(now, strconv.Itoa(i)), now, now); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		g.Run(ctx, 5*time.Millisecond)
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for g.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Run did not sweep: Len() = %d", g.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

// TestMemoryRememberDoesNotAllocate: once a guard has held the tables a steady
// rate needs, it takes every later table from those its expired buckets
// gave back, so recording and refusing nonces allocates nothing.
func TestMemoryRememberDoesNotAllocate(t *testing.T) {
	const w = 2 * time.Second
	g := replay.NewMemory(replay.MemoryOptions{Shards: 1, Window: w})
	buf := make([]byte, 0, nonce.MaxLen)
	i := 0
	now := t0
	step := func() {
		now += sec / 1000 // 1,000 nonces a second
		buf = append(strconv.AppendInt(buf[:0], now, 10), '_')
		buf = strconv.AppendInt(buf, int64(i), 10)
		i++
		if err := g.Remember(alice, buf, now, now); err != nil {
			t.Fatal(err)
		}
		if err := g.Remember(alice, buf, now, now); err != nonce.ErrReplayed {
			t.Fatalf("replay = %v, want ErrReplayed", err)
		}
	}
	for range 3 * 2 * 1000 { // three windows
		step()
	}
	if allocs := testing.AllocsPerRun(4000, step); allocs != 0 {
		t.Errorf("Remember allocated %.3f times per run, want 0", allocs)
	}
}

func TestMemoryRememberPair(t *testing.T) {
	g := replay.NewMemory(replay.MemoryOptions{})
	now := t0
	rec := func(kind nonce.Kind, suffix string, ts int64) nonce.Record {
		return nonce.Record{Scope: nonce.Scope{Who: [32]byte{1}, Kind: kind}, Nonce: mk(ts, suffix), TS: ts}
	}
	h, b := rec(nonce.KindHeader, "h", now), rec(nonce.KindBody, "b", now)
	if i, err := g.RememberPair(h, b, now); err != nil {
		t.Fatalf("fresh pair: got %d, %v", i, err)
	}
	// All or nothing: a refused pair records neither nonce.
	h2 := rec(nonce.KindHeader, "h2", now)
	if i, err := g.RememberPair(h2, b, now); i != 1 || !errors.Is(err, nonce.ErrReplayed) {
		t.Errorf("used body nonce: got %d, %v; want 1, ErrReplayed", i, err)
	}
	b2 := rec(nonce.KindBody, "b2", now+5*sec) // another bucket
	if i, err := g.RememberPair(h, b2, now); i != 0 || !errors.Is(err, nonce.ErrReplayed) {
		t.Errorf("used header nonce: got %d, %v; want 0, ErrReplayed", i, err)
	}
	if i, err := g.RememberPair(h2, b2, now); err != nil {
		t.Errorf("the fresh halves of two refused pairs: got %d, %v; want both recorded", i, err)
	}
	if got := g.Len(); got != 4 {
		t.Errorf("Len() = %d, want 4", got)
	}
	// Refusals before the guard is asked, each naming its nonce.
	for _, tc := range []struct {
		name string
		a, b nonce.Record
		i    int
		want error
	}{
		{"a too old", rec(nonce.KindHeader, "o", now-121*sec), rec(nonce.KindBody, "o", now), 0, nonce.ErrTooOld},
		{"b too new", rec(nonce.KindHeader, "n", now), rec(nonce.KindBody, "n", now+121*sec), 1, nonce.ErrTooNew},
		{"b empty", rec(nonce.KindHeader, "e", now), nonce.Record{TS: now}, 1, nonce.ErrMalformed},
		{"the same nonce twice", rec(nonce.KindHeader, "same", now), rec(nonce.KindHeader, "same", now), 1, nonce.ErrReplayed},
	} {
		if i, err := g.RememberPair(tc.a, tc.b, now); i != tc.i || !errors.Is(err, tc.want) {
			t.Errorf("%s: got %d, %v; want %d, %v", tc.name, i, err, tc.i, tc.want)
		}
	}
}

// TestMemoryRememberPairFull: when the budget holds one more nonce but not two,
// the pair is refused as ErrFull and neither is recorded.
func TestMemoryRememberPairFull(t *testing.T) {
	const w = 10 * time.Second
	slots := replay.SlotsOfClass(0)
	g := replay.NewMemory(replay.MemoryOptions{Window: w, MaxMemory: budgetFor(1, w, slots), Shards: 1})
	for i := range slots*7/8 - 1 {
		if err := g.Remember(alice, mk(t0, strconv.Itoa(i)), t0, t0); err != nil {
			t.Fatal(err)
		}
	}
	before := g.Len()
	h := nonce.Record{Scope: alice, Nonce: mk(t0, "h"), TS: t0}
	b := nonce.Record{Scope: bob, Nonce: mk(t0, "b"), TS: t0}
	if i, err := g.RememberPair(h, b, t0); err != nonce.ErrFull || i != 0 {
		t.Fatalf("pair with room for one: got %d, %v; want 0, ErrFull", i, err)
	}
	if g.Len() != before {
		t.Fatalf("a refused pair changed Len from %d to %d", before, g.Len())
	}
	if err := g.Remember(h.Scope, h.Nonce, h.TS, t0); err != nil {
		t.Errorf("the header nonce of the refused pair = %v, want it fresh", err)
	}
}

// TestMemoryRememberPairConcurrent records pairs from many goroutines whose two
// nonces fall in shards in both orders, with a sweeper running: it must
// neither deadlock nor lose or double a nonce.
func TestMemoryRememberPairConcurrent(t *testing.T) {
	g := replay.NewMemory(replay.MemoryOptions{Shards: 4})
	const workers, each = 8, 400
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var sweeps sync.WaitGroup
	sweeps.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				g.Sweep(t0)
			}
		}
	})
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				s := strconv.Itoa(w) + "x" + strconv.Itoa(i)
				a := nonce.Record{Scope: alice, Nonce: mk(t0, s), TS: t0}
				b := nonce.Record{Scope: bob, Nonce: mk(t0+sec, s), TS: t0 + sec}
				if i%2 == 1 {
					a, b = b, a
				}
				if i, err := g.RememberPair(a, b, t0); err != nil {
					t.Errorf("pair %s: %d, %v", s, i, err)
				}
				if _, err := g.RememberPair(a, b, t0); err != nonce.ErrReplayed {
					t.Errorf("pair %s again: %v, want ErrReplayed", s, err)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	sweeps.Wait()
	if got := g.Len(); got != 2*workers*each {
		t.Errorf("Len() = %d, want %d", got, 2*workers*each)
	}
}

// TestMemoryAgainstModel runs a long random sequence of nonces, fresh and
// replayed, stamped anywhere in and around the window, on a clock moving
// forward, and compares every answer with a model that remembers each
// nonce exactly until its timestamp leaves the window. The guard must
// agree on every answer (a hash collision would show as a disagreement,
// with probability about 2^-40 here) and never hold more than its budget.
func TestMemoryAgainstModel(t *testing.T) {
	const w = 5 * time.Second
	r := rand.New(rand.NewPCG(1, 2))
	g := replay.NewMemory(replay.MemoryOptions{Window: w, Shards: 4, MaxMemory: 8 << 20})
	type key struct {
		who  byte
		text string
	}
	seen := map[key]int64{}
	var used []key
	now := t0
	for i := range 200_000 {
		now += int64(r.IntN(200)) * int64(time.Microsecond) // ~10,000 nonces a second
		var k key
		var ts int64
		if len(used) > 0 && r.IntN(4) == 0 {
			k = used[r.IntN(len(used))]
			ts = seen[k]
		} else {
			ts = now + int64(r.IntN(int(2*w+2*time.Second))) - int64(w) - int64(time.Second)
			k = key{byte(r.IntN(3)), string(mk(ts, strconv.Itoa(i)))}
		}
		want := nonce.CheckWindow(ts, now, w)
		if old, ok := seen[k]; ok && want == nil && old+int64(w) >= now {
			want = nonce.ErrReplayed
		}
		got := g.Remember(nonce.Scope{Who: [32]byte{k.who}}, []byte(k.text), ts, now)
		if got != want {
			t.Fatalf("step %d: Remember(ts %v from now) = %v, want %v", i, time.Duration(ts-now), got, want)
		}
		if got == nil {
			seen[k] = ts
			used = append(used, k)
		}
		if i%10_000 == 0 {
			g.Sweep(now)
			if m := g.MemoryBytes(); m > g.MaxMemory() {
				t.Fatalf("step %d: holds %d bytes, over its budget %d", i, m, g.MaxMemory())
			}
		}
	}
}
