package replay_test

import (
	"errors"
	"math"
	"strconv"
	"sync"
	"testing"

	"github.com/fibergate/fibergate/crypto/nonce"
	"github.com/fibergate/fibergate/replay"
)

// TestMemoryFloor: a nonce stamped at or before the floor is refused whatever
// the guard remembers, with the floor in the error; one stamped after it
// is judged as usual.
func TestMemoryFloor(t *testing.T) {
	g := replay.NewMemory(replay.MemoryOptions{Floor: t0})
	err := g.Remember(alice, mk(t0, "a"), t0, t0+sec)
	var ue nonce.UnverifiableError
	if !errors.Is(err, nonce.ErrUnverifiable) || !errors.As(err, &ue) || ue.Floor != t0 {
		t.Fatalf("nonce stamped at the floor: got %v, want an UnverifiableError at %d", err, t0)
	}
	if err := g.Remember(alice, mk(t0-sec, "b"), t0-sec, t0+sec); !errors.Is(err, nonce.ErrUnverifiable) {
		t.Errorf("nonce stamped before the floor: got %v, want ErrUnverifiable", err)
	}
	// Outside the window is still outside the window.
	if err := g.Remember(alice, mk(t0-200*sec, "c"), t0-200*sec, t0+sec); !errors.Is(err, nonce.ErrTooOld) {
		t.Errorf("expired nonce: got %v, want ErrTooOld", err)
	}
	run(t, g, []step{
		{"just after the floor", alice, mk(t0+1, "d"), t0 + 1, t0 + sec, nil},
		{"its replay", alice, mk(t0+1, "d"), t0 + 1, t0 + sec, nonce.ErrReplayed},
	})
	if _, err := g.RememberPair(
		nonce.Record{Scope: alice, Nonce: mk(t0+2, "e"), TS: t0 + 2},
		nonce.Record{Scope: alice, Nonce: mk(t0, "f"), TS: t0}, t0+sec); !errors.Is(err, nonce.ErrUnverifiable) {
		t.Errorf("pair with a body nonce at the floor: got %v, want ErrUnverifiable", err)
	}
	// All or nothing: the header nonce of the refused pair was not kept.
	run(t, g, []step{{"header nonce of the refused pair", alice, mk(t0+2, "e"), t0 + 2, t0 + sec, nil}})
}

// TestMemoryHorizon: with Options.Horizon, no nonce is accepted stamped after a
// horizon that was not recorded first; KeepHorizon keeps it ahead of the
// clock, so a nonce stamped as it is sent needs no write of its own.
func TestMemoryHorizon(t *testing.T) {
	var mu sync.Mutex
	var recorded []int64
	g := replay.NewMemory(replay.MemoryOptions{
		HorizonLead: 10 * replay.BucketSpan,
		Horizon: func(h int64) {
			mu.Lock()
			recorded = append(recorded, h)
			mu.Unlock()
		},
	})
	last := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		if len(recorded) == 0 {
			return math.MinInt64
		}
		return recorded[len(recorded)-1]
	}
	lead := int64(10 * replay.BucketSpan)
	g.KeepHorizon(t0)
	if got := last(); got != t0+lead || g.Horizon() != got {
		t.Fatalf("after KeepHorizon(t0): recorded %d, Horizon() %d; want both t0+lead", got-t0, g.Horizon()-t0)
	}
	writes := func() int { mu.Lock(); defer mu.Unlock(); return len(recorded) }
	before := writes()
	for i := range 100 {
		ts := t0 + int64(i)*1000
		if err := g.Remember(alice, mk(ts, "n"+strconv.Itoa(i)), ts, ts); err != nil {
			t.Fatal(err)
		}
	}
	if writes() != before {
		t.Errorf("nonces stamped at the clock wrote %d horizons, want none", writes()-before)
	}
	// A validator whose clock runs 60 s ahead: the horizon is recorded
	// past its nonce before the nonce is accepted.
	ahead := t0 + 60*sec
	if err := g.Remember(bob, mk(ahead, "x"), ahead, t0); err != nil {
		t.Fatal(err)
	}
	if got := last(); got < ahead {
		t.Errorf("accepted a nonce stamped %d s ahead with the horizon recorded at %+d s", (ahead-t0)/sec, (got-t0)/sec)
	}
	// Nothing the guard accepted is stamped after the last horizon.
	if g.Horizon() != last() {
		t.Errorf("Horizon() %d, last recorded %d", g.Horizon(), last())
	}
}

// TestMemoryNoHorizon: without Options.Horizon nothing is recorded and the
// horizon does not limit anything.
func TestMemoryNoHorizon(t *testing.T) {
	g := replay.NewMemory(replay.MemoryOptions{})
	g.KeepHorizon(t0)
	if g.Horizon() != math.MaxInt64 {
		t.Errorf("Horizon() = %d, want MaxInt64", g.Horizon())
	}
}

// TestMemoryStop: after Stop every nonce is refused as unavailable, fresh or
// not, so a snapshot taken then is complete.
func TestMemoryStop(t *testing.T) {
	g := replay.NewMemory(replay.MemoryOptions{})
	if _, err := g.Snapshot(t0); err == nil {
		t.Error("Snapshot before Stop succeeded")
	}
	g.Stop()
	if err := g.Remember(alice, mk(t0, "a"), t0, t0); !errors.Is(err, nonce.ErrUnavailable) {
		t.Errorf("Remember after Stop: got %v, want ErrUnavailable", err)
	}
	if _, err := g.RememberPair(
		nonce.Record{Scope: alice, Nonce: mk(t0, "b"), TS: t0},
		nonce.Record{Scope: bob, Nonce: mk(t0, "c"), TS: t0}, t0); !errors.Is(err, nonce.ErrUnavailable) {
		t.Errorf("RememberPair after Stop: got %v, want ErrUnavailable", err)
	}
}

// TestMemorySnapshotRestore: a guard restored from another's snapshot refuses
// every nonce the first one accepted (and that is still in the window),
// accepts fresh ones, and keeps the higher floor.
func TestMemorySnapshotRestore(t *testing.T) {
	a := replay.NewMemory(replay.MemoryOptions{MaxMemory: 8 << 20, Floor: t0 - 50*sec})
	type rec struct {
		scope nonce.Scope
		n     []byte
		ts    int64
	}
	var used []rec
	for i := range 5000 {
		ts := t0 + int64(i)*(100*sec/5000) // 100 s of nonces
		s := alice
		if i%3 == 0 {
			s = nonce.Scope{Who: [32]byte{byte(i)}, Kind: nonce.KindBody}
		}
		n := mk(ts, "s"+strconv.Itoa(i))
		if err := a.Remember(s, n, ts, ts); err != nil {
			t.Fatal(err)
		}
		used = append(used, rec{s, n, ts})
	}
	stop := t0 + 100*sec
	a.Stop()
	data, err := a.Snapshot(stop)
	if err != nil {
		t.Fatal(err)
	}
	st, err := replay.ParseState(data)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Full || st.Floor != t0-50*sec || st.Horizon != stop+120*sec {
		t.Fatalf("parsed state: full %v, floor %+d s, horizon %+d s; want full, -50 s, stop+120 s",
			st.Full, (st.Floor-t0)/sec, (st.Horizon-t0)/sec)
	}

	restart := stop + 5*sec
	b := replay.NewMemory(replay.MemoryOptions{MaxMemory: 8 << 20, Floor: t0 - 100*sec})
	if err := b.Restore(st, restart); err != nil {
		t.Fatal(err)
	}
	if b.Floor() != t0-50*sec {
		t.Errorf("restored floor %+d s, want the higher, -50 s", (b.Floor()-t0)/sec)
	}
	for _, r := range used {
		err := b.Remember(r.scope, r.n, r.ts, restart)
		switch {
		case restart-r.ts > 120*sec:
			if !errors.Is(err, nonce.ErrTooOld) {
				t.Fatalf("nonce of %+d s: got %v, want ErrTooOld", (r.ts-t0)/sec, err)
			}
		case !errors.Is(err, nonce.ErrReplayed):
			t.Fatalf("replay after restore of nonce of %+d s: got %v, want ErrReplayed", (r.ts-t0)/sec, err)
		}
	}
	if err := b.Remember(alice, mk(restart, "fresh"), restart, restart); err != nil {
		t.Errorf("fresh nonce after restore: %v", err)
	}
	if got, want := b.Len(), a.Len()+1; got > want || got < want/2 {
		t.Errorf("restored guard holds %d nonces, want about %d", got, want)
	}
}

// TestMemoryRestoreMismatch: a state the guard cannot take leaves it unchanged.
func TestMemoryRestoreMismatch(t *testing.T) {
	a := replay.NewMemory(replay.MemoryOptions{})
	if err := a.Remember(alice, mk(t0, "a"), t0, t0); err != nil {
		t.Fatal(err)
	}
	a.Stop()
	data, _ := a.Snapshot(t0)
	st, err := replay.ParseState(data)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := replay.ParseState(replay.HorizonState(t0+10*sec, t0))
	if err != nil || hs.Full || hs.Horizon != t0+10*sec || hs.Floor != t0 {
		t.Fatalf("horizon record: %+v, %v", hs, err)
	}
	for name, g := range map[string]*replay.Memory{
		"another window":      replay.NewMemory(replay.MemoryOptions{Window: 60 * 1e9}),
		"another shard count": replay.NewMemory(replay.MemoryOptions{Shards: 4}),
	} {
		if err := g.Restore(st, t0); !errors.Is(err, replay.ErrStateMismatch) {
			t.Errorf("%s: got %v, want ErrStateMismatch", name, err)
		}
		if g.Len() != 0 {
			t.Errorf("%s: a refused restore left %d nonces", name, g.Len())
		}
	}
	if err := replay.NewMemory(replay.MemoryOptions{}).Restore(hs, t0); !errors.Is(err, replay.ErrStateMismatch) {
		t.Errorf("restoring a horizon record: got %v, want ErrStateMismatch", err)
	}
	used := replay.NewMemory(replay.MemoryOptions{})
	used.Remember(bob, mk(t0, "b"), t0, t0)
	if err := used.Restore(st, t0); !errors.Is(err, replay.ErrStateMismatch) {
		t.Errorf("restoring into a guard in use: got %v, want ErrStateMismatch", err)
	}
}

// TestParseStateCorrupt: every cut and every flipped byte of a state is
// an error or a state that parses consistently; never a panic.
func TestParseStateCorrupt(t *testing.T) {
	a := replay.NewMemory(replay.MemoryOptions{})
	for i := range 20 {
		a.Remember(alice, mk(t0+int64(i), "x"), t0+int64(i), t0)
	}
	a.Stop()
	data, _ := a.Snapshot(t0)
	for n := range len(data) {
		if _, err := replay.ParseState(data[:n]); !errors.Is(err, replay.ErrStateCorrupt) {
			t.Fatalf("cut at %d of %d: got %v, want ErrStateCorrupt", n, len(data), err)
		}
	}
	if _, err := replay.ParseState(append(data, 0)); !errors.Is(err, replay.ErrStateCorrupt) {
		t.Errorf("a byte too many: got %v", err)
	}
}

func FuzzParseState(f *testing.F) {
	a := replay.NewMemory(replay.MemoryOptions{Shards: 2})
	a.Remember(alice, mk(t0, "x"), t0, t0)
	a.Stop()
	data, _ := a.Snapshot(t0)
	f.Add(data)
	f.Add(replay.HorizonState(t0, t0))
	f.Add([]byte("FGNG"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := replay.ParseState(data)
		if err != nil {
			if !errors.Is(err, replay.ErrStateCorrupt) {
				t.Fatalf("error %v does not wrap ErrStateCorrupt", err)
			}
			return
		}
		if st.Full {
			// Whatever parsed can be offered to a guard without a panic.
			replay.NewMemory(replay.MemoryOptions{Shards: 2, MaxMemory: 4 << 20}).Restore(st, t0)
		}
	})
}
