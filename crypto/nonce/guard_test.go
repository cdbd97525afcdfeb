package nonce_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/nonce"
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

func run(t *testing.T, g *nonce.Guard, steps []step) {
	t.Helper()
	for _, s := range steps {
		got := g.Remember(s.scope, s.nonce, s.ts, s.now)
		if (s.want == nil) != (got == nil) || !errors.Is(got, s.want) {
			t.Errorf("%s: Remember(%q, ts %+d s, now %+d s) = %v, want %v",
				s.name, s.nonce, (s.ts-t0)/sec, (s.now-t0)/sec, got, s.want)
		}
	}
}

func TestRememberReplay(t *testing.T) {
	g := nonce.NewGuard(nonce.Options{})
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

func TestRememberScopes(t *testing.T) {
	g := nonce.NewGuard(nonce.Options{})
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

// TestRememberUntilOwnExpiry is the nonce hole Fiber leaves: a nonce stamped
// 119 s ahead stays acceptable for 239 s, and must be refused as a replay
// for all of them, not just for the 120 s after first sight.
func TestRememberUntilOwnExpiry(t *testing.T) {
	g := nonce.NewGuard(nonce.Options{Window: 120 * time.Second})
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
	if got := g.Sweep(exp + 1); got != 1 {
		t.Errorf("Sweep 1 ns after ts+window forgot %d, want 1", got)
	}
	if got := g.Len(); got != 0 {
		t.Errorf("Len() after sweep = %d, want 0", got)
	}
	// Once forgotten, the window refuses it anyway.
	if err := nonce.CheckWindow(ts, exp+1, 120*time.Second); err != nonce.ErrTooOld {
		t.Errorf("CheckWindow after forgetting = %v, want ErrTooOld", err)
	}
}

func TestRememberRefusesOutsideWindow(t *testing.T) {
	g := nonce.NewGuard(nonce.Options{Window: 10 * time.Second})
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

func TestRememberDefaultWindow(t *testing.T) {
	g := nonce.NewGuard(nonce.Options{})
	w := int64(nonce.DefaultWindow)
	run(t, g, []step{
		{"default window, oldest", alice, mk(t0-w, "a"), t0 - w, t0, nil},
		{"default window, 1 ns older", alice, mk(t0-w-1, "a"), t0 - w - 1, t0, nonce.ErrTooOld},
		{"default window, newest", alice, mk(t0+w, "a"), t0 + w, t0, nil},
		{"default window, 1 ns newer", alice, mk(t0+w+1, "a"), t0 + w + 1, t0, nonce.ErrTooNew},
	})
}

// TestRememberReusesExpiredSlot covers an entry that expired but was not yet
// swept: it must not count as a replay, nor twice towards MaxEntries.
func TestRememberReusesExpiredSlot(t *testing.T) {
	g := nonce.NewGuard(nonce.Options{Window: 10 * time.Second, MaxEntries: 1})
	n := []byte("1_same-text")
	run(t, g, []step{
		{"first", alice, n, t0, t0, nil},
		{"other nonce while full", alice, []byte("2_other"), t0, t0, nonce.ErrFull},
		{"same text, later timestamp, after expiry", alice, n, t0 + 11*sec, t0 + 11*sec, nil},
		{"replay of the new entry", alice, n, t0 + 11*sec, t0 + 12*sec, nonce.ErrReplayed},
	})
	if got := g.Len(); got != 1 {
		t.Errorf("Len() = %d, want 1", got)
	}
}

func TestRememberFull(t *testing.T) {
	for _, shards := range []int{1, 4, 64} {
		t.Run("shards="+strconv.Itoa(shards), func(t *testing.T) {
			const max = 10
			g := nonce.NewGuard(nonce.Options{Window: 10 * time.Second, MaxEntries: max, Shards: shards})
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
			// Full must not mean forgetful: recorded nonces still replay.
			for _, n := range kept {
				if err := g.Remember(alice, n, t0, t0+5*sec); err != nonce.ErrReplayed {
					t.Fatalf("replay of %q while full = %v, want ErrReplayed", n, err)
				}
			}
			// Nothing has expired yet, so a sweep frees nothing.
			if got := g.Sweep(t0 + 10*sec); got != 0 {
				t.Fatalf("Sweep before expiry forgot %d, want 0", got)
			}
			if err := g.Remember(alice, mk(t0+10*sec, "x"), t0+10*sec, t0+10*sec); err != nonce.ErrFull {
				t.Fatalf("Remember while full = %v, want ErrFull", err)
			}
			if got := g.Sweep(t0 + 10*sec + 1); got != max {
				t.Fatalf("Sweep after expiry forgot %d, want %d", got, max)
			}
			if err := g.Remember(alice, mk(t0+10*sec, "x"), t0+10*sec, t0+10*sec); err != nil {
				t.Fatalf("Remember after sweep = %v, want nil", err)
			}
			if got := g.Len(); got != 1 {
				t.Fatalf("Len() after sweep and one insert = %d, want 1", got)
			}
		})
	}
}

func TestSweepPartial(t *testing.T) {
	g := nonce.NewGuard(nonce.Options{Window: 10 * time.Second})
	for i := range 100 {
		ts := t0 + int64(i)*sec/10 // 0 to 9.9 s
		if err := g.Remember(bob, mk(ts, "s"), ts, t0); err != nil {
			t.Fatalf("Remember #%d: %v", i, err)
		}
	}
	// Entries expire at t0+10 s+i/10 s; at t0+15 s the first 50 (i < 50) are past.
	if got := g.Sweep(t0 + 15*sec); got != 50 {
		t.Errorf("Sweep forgot %d, want 50", got)
	}
	if got := g.Len(); got != 50 {
		t.Errorf("Len() = %d, want 50", got)
	}
	if err := g.Remember(bob, mk(t0+9*sec, "s"), t0+9*sec, t0+15*sec); err != nonce.ErrReplayed {
		t.Errorf("replay of a surviving entry = %v, want ErrReplayed", err)
	}
}

// TestRememberConcurrentSameNonce races many goroutines on one nonce:
// exactly one may win.
func TestRememberConcurrentSameNonce(t *testing.T) {
	g := nonce.NewGuard(nonce.Options{Shards: 4})
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

// TestRememberConcurrentDistinct has goroutines record distinct nonces, all
// of them in a few shards, while another sweeps.
func TestRememberConcurrentDistinct(t *testing.T) {
	g := nonce.NewGuard(nonce.Options{Shards: 2})
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

func TestRun(t *testing.T) {
	const window = 50 * time.Millisecond
	g := nonce.NewGuard(nonce.Options{Window: window})
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

func TestRememberDoesNotAllocate(t *testing.T) {
	g := nonce.NewGuard(nonce.Options{Shards: 1, Window: 10 * time.Second})
	// Grow the map once, then empty it (below the size at which Sweep
	// rebuilds), so new entries fit without growth.
	buf := make([]byte, 0, nonce.MaxLen)
	for i := range 600 {
		buf = append(strconv.AppendInt(buf[:0], t0, 10), '_')
		buf = strconv.AppendInt(buf, int64(i), 10)
		if err := g.Remember(alice, buf, t0, t0); err != nil {
			t.Fatal(err)
		}
	}
	if got := g.Sweep(t0 + 11*sec); got != 600 {
		t.Fatalf("Sweep forgot %d, want 600", got)
	}
	now := t0 + 11*sec
	i := 0
	allocs := testing.AllocsPerRun(500, func() {
		buf = append(strconv.AppendInt(buf[:0], now, 10), '_')
		buf = strconv.AppendInt(buf, int64(i), 10)
		i++
		if err := g.Remember(alice, buf, now, now); err != nil {
			t.Fatal(err)
		}
		if err := g.Remember(alice, buf, now, now); err != nonce.ErrReplayed {
			t.Fatalf("replay = %v, want ErrReplayed", err)
		}
	})
	if allocs != 0 {
		t.Errorf("Remember allocated %.1f times per run, want 0", allocs)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[nonce.Kind]string{
		nonce.KindHeader: "header",
		nonce.KindBody:   "body",
		7:                "kind(7)",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}

func TestRememberPair(t *testing.T) {
	g := nonce.NewGuard(nonce.Options{})
	now := time.Now().UnixNano()
	h := nonce.Record{Scope: nonce.Scope{Who: [32]byte{1}, Kind: nonce.KindHeader}, Nonce: []byte(strconv.FormatInt(now, 10) + "_h"), TS: now}
	b := nonce.Record{Scope: nonce.Scope{Who: [32]byte{1}, Kind: nonce.KindBody}, Nonce: []byte(strconv.FormatInt(now, 10) + "_b"), TS: now}
	if i, err := g.RememberPair(h, b, now); err != nil {
		t.Fatalf("fresh pair: got %d, %v", i, err)
	}
	h2 := h
	h2.Nonce = []byte(strconv.FormatInt(now, 10) + "_h2")
	if i, err := g.RememberPair(h2, b, now); i != 1 || !errors.Is(err, nonce.ErrReplayed) {
		t.Errorf("used body nonce: got %d, %v; want 1, ErrReplayed", i, err)
	}
	if i, err := g.RememberPair(h, b, now); i != 0 || !errors.Is(err, nonce.ErrReplayed) {
		t.Errorf("used header nonce: got %d, %v; want 0, ErrReplayed", i, err)
	}
}
