package validators

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fibergate/fibergate/chain"
	"github.com/fibergate/fibergate/chain/chaintest"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/internal/testvectors"
)

// fetcher is a ChainFetcher that answers from a script.
type fetcher struct {
	mu    sync.Mutex
	snap  *chain.Snapshot
	err   error
	block bool // wait for ctx to end
	calls int
}

func (f *fetcher) Fetch(ctx context.Context) (*chain.Snapshot, error) {
	f.mu.Lock()
	f.calls++
	snap, err, block := f.snap, f.err, f.block
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return snap, err
}

func (f *fetcher) set(snap *chain.Snapshot, err error) {
	f.mu.Lock()
	f.snap, f.err = snap, err
	f.mu.Unlock()
}

// snapshot lists keys with stakes as a chain read would.
func snapshot(block uint64, stakes map[byte]float64) *chain.Snapshot {
	s := &chain.Snapshot{Block: block, SpecVersion: 343, NetUID: 1}
	for b, stake := range stakes {
		pub, hk := key(b)
		s.Nodes = append(s.Nodes, chain.Node{Hotkey: hk, Coldkey: hk, NetUID: 1, Stake: stake, PublicKey: pub, IP: "0.0.0.0"})
	}
	return s
}

// clock is a settable time for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// events collects ChainEvents.
type events struct {
	mu  sync.Mutex
	evs []ChainEvent
	ch  chan ChainEvent
}

func newEvents() *events { return &events{ch: make(chan ChainEvent, 256)} }

func (e *events) on(ev ChainEvent) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
	e.ch <- ev
}

func (e *events) take() []ChainEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.evs
	e.evs = nil
	for len(e.ch) > 0 {
		<-e.ch
	}
	return out
}

func kinds(evs []ChainEvent) []ChainEventKind {
	var out []ChainEventKind
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

func sameKinds(a, b []ChainEventKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestChainPrecedence(t *testing.T) {
	pa, a := key(1)
	pb, _ := key(2)
	pc, c := key(3)
	path := filepath.Join(t.TempDir(), "nodes.json")
	writeFile(t, path, nodesJSON(t, map[string]float64{a: 20, c: 30}))
	f := &fetcher{snap: snapshot(7, map[byte]float64{1: 100, 2: 200, 3: 300})}
	r := mustNew(t, Options{
		Static:    []StaticEntry{{a, 10}},
		NodesFile: path,
		Chain:     &ChainOptions{Fetcher: f, Stale: StaleServe},
	})
	if err := r.RefreshChain(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pub    [32]byte
		source string
		stake  float64
	}{
		{pa, SourceStatic, 10},    // static over file over chain
		{pc, SourceNodesFile, 30}, // file over chain
		{pb, SourceChain, 200},    // chain only
	} {
		v, ok := r.Current().Lookup(tc.pub)
		if !ok || v.Source != tc.source || v.Stake != tc.stake {
			t.Errorf("%x: got %+v, %v, want %s with %v", tc.pub[:2], v, ok, tc.source, tc.stake)
		}
	}
	if got := r.Current().Len(); got != 3 {
		t.Errorf("Len: got %d, want 3 keys merged", got)
	}
}

// fixtureFetcher returns a fixture's neurons under each stake rule,
// decoded by the chain package.
func fixtureSnapshot(t *testing.T, rule chain.StakeRule) *chain.Snapshot {
	t.Helper()
	var f struct {
		ResultHex string `json:"result_hex"`
	}
	snap := &chain.Snapshot{Block: 6852690, SpecVersion: 343, NetUID: 1, Rule: rule}
	switch rule {
	case chain.StakeFiber21:
		testvectors.Load(t, "chain/neurons_lite_netuid1_spec343_block6852690.json", &f)
		ns, err := chain.DecodeNeuronsLite(unhex(t, f.ResultHex), false)
		if err != nil {
			t.Fatal(err)
		}
		snap.Nodes = chain.NodesFromNeurons(ns)
	default:
		testvectors.Load(t, "chain/selective_mechagraph_netuid1_spec343_block6852690.json", &f)
		m, err := chain.DecodeSelectiveMetagraph(unhex(t, f.ResultHex))
		if err != nil {
			t.Fatal(err)
		}
		if snap.Nodes, err = chain.NodesFromMetagraph(m, 1); err != nil {
			t.Fatal(err)
		}
	}
	return snap
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pubOf(t *testing.T, ss string) [32]byte {
	t.Helper()
	pub, _, err := ss58.Decode(ss)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// The recorded block 6852690 as a validator list under each stake rule,
// with min_stake 1000: uid 245 passes under both; uid 24 owns too little
// alpha itself for Fiber 2.1's rule but holds enough for Fiber 2.5's.
func TestChainFixtureStakeRules(t *testing.T) {
	uid24 := pubOf(t, "5HbScNssaEfioJHXjcXdpyqo1AKnYjymidGF8opcF9rTFZdT")
	uid245 := pubOf(t, "5D1saVvssckE1XoPwPzdHrqYZtvBJ3vESsrPNxZ4zAxbKGs1")
	cases := []struct {
		rule       chain.StakeRule
		stake24    float64
		err24      error
		stake245   float64
		minStake   float64
		validators int
	}{
		{chain.StakeFiber21, 959.873144507, ErrLowStake, 4342.02989846, 1000, 1024},
		{chain.StakeFiber25, 58036.807815746004, nil, 31673.976936605002, 1000, 1024},
	}
	for _, tc := range cases {
		t.Run(tc.rule.String(), func(t *testing.T) {
			snap := fixtureSnapshot(t, tc.rule)
			r := mustNew(t, Options{Chain: &ChainOptions{Fetcher: &fetcher{snap: snap}, Rule: tc.rule, NetUID: 1}})
			if err := r.RefreshChain(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := r.Current().Len(); got != tc.validators {
				t.Errorf("Len: got %d, want %d", got, tc.validators)
			}
			v, err := r.Check(uid24, tc.minStake)
			if err != tc.err24 || v.Stake != tc.stake24 || v.Source != SourceChain {
				t.Errorf("uid 24: got %+v, %v, want stake %v, error %v", v, err, tc.stake24, tc.err24)
			}
			v, err = r.Check(uid245, tc.minStake)
			if err != nil || v.Stake != tc.stake245 {
				t.Errorf("uid 245: got %+v, %v, want stake %v accepted", v, err, tc.stake245)
			}
			// Every node's stake is exactly the rule's.
			for _, n := range snap.Nodes {
				if v, ok := r.Current().Lookup(n.PublicKey); !ok || v.Stake != n.Stake {
					t.Fatalf("%s: got %+v, want stake %v", n.Hotkey, v, n.Stake)
				}
			}
		})
	}
}

func TestChainStale(t *testing.T) {
	pa, a := key(1)
	pb, _ := key(2)
	pc, c := key(3)
	for _, policy := range []StalePolicy{StaleRefuse, StaleServe} {
		name := map[StalePolicy]string{StaleRefuse: "refuse", StaleServe: "serve"}[policy]
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "nodes.json")
			writeFile(t, path, nodesJSON(t, map[string]float64{c: 3000}))
			clk := &clock{t: time.Unix(1_700_000_000, 0)}
			ev := newEvents()
			f := &fetcher{snap: snapshot(7, map[byte]float64{1: 2000, 2: 2000, 3: 1})}
			r := mustNew(t, Options{
				Static: []StaticEntry{{a, 5000}}, NodesFile: path, Now: clk.now,
				Chain: &ChainOptions{Fetcher: f, Stale: policy, StaleAfter: 30 * time.Minute, OnEvent: ev.on},
			})
			// No list yet: stale from the start.
			if st, ok := r.ChainStatus(); !ok || !st.Stale || st.Refusing != (policy == StaleRefuse) || !st.Refreshed.IsZero() {
				t.Errorf("before the first read: got %+v", st)
			}
			if got := kinds(ev.take()); !sameKinds(got, []ChainEventKind{ChainStaleness}) {
				t.Errorf("events at New: got %v", got)
			}
			if err := r.RefreshChain(context.Background()); err != nil {
				t.Fatal(err)
			}
			if evs := ev.take(); len(evs) != 1 || evs[0].Kind != ChainLoaded || evs[0].Status.Stale || evs[0].Status.Count != 3 || evs[0].Status.Block != 7 {
				t.Errorf("events after a read: got %+v", evs)
			}
			refreshed := clk.now()

			// Exactly stale_after old: still fresh.
			clk.add(30 * time.Minute)
			r.checkChainStale()
			if _, err := r.Check(pb, 1000); err != nil || r.ChainStale() {
				t.Errorf("at stale_after: got %v, stale %v, want the chain list in use", err, r.ChainStale())
			}
			if evs := ev.take(); len(evs) != 0 {
				t.Errorf("at stale_after: got events %+v", evs)
			}

			// One moment later: stale.
			f.set(nil, errors.New("node down"))
			clk.add(time.Nanosecond)
			r.checkChainStale()
			st, _ := r.ChainStatus()
			if !st.Stale || st.Refusing != (policy == StaleRefuse) || !st.Refreshed.Equal(refreshed) {
				t.Errorf("past stale_after: got %+v", st)
			}
			if evs := ev.take(); len(evs) != 1 || evs[0].Kind != ChainStaleness || !evs[0].Status.Stale {
				t.Errorf("past stale_after: got events %+v, want one ChainStaleness", evs)
			}
			_, err := r.Check(pb, 1000)
			if policy == StaleRefuse && err != ErrUnknown {
				t.Errorf("chain-only validator, stale, refuse: got %v, want ErrUnknown", err)
			}
			if policy == StaleServe && err != nil {
				t.Errorf("chain-only validator, stale, serve: got %v, want accepted", err)
			}
			// Static and file entries are not the chain's to withdraw.
			if _, err := r.Check(pa, 1000); err != nil {
				t.Errorf("static validator while stale: got %v", err)
			}
			if v, err := r.Check(pc, 1000); err != nil || v.Source != SourceNodesFile {
				t.Errorf("file validator while stale: got %+v, %v", v, err)
			}
			// A failed read changes nothing; a good one makes the list fresh.
			if err := r.RefreshChain(context.Background()); err == nil {
				t.Fatal("RefreshChain with the node down: got nil")
			}
			if _, err := r.Check(pb, 1000); (err == nil) != (policy == StaleServe) {
				t.Errorf("after a failed read: got %v", err)
			}
			f.set(snapshot(8, map[byte]float64{2: 2000}), nil)
			if err := r.RefreshChain(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Check(pb, 1000); err != nil || r.ChainStale() {
				t.Errorf("after a good read: got %v, stale %v", err, r.ChainStale())
			}
			if got := kinds(ev.take()); !sameKinds(got, []ChainEventKind{ChainFailed, ChainLoaded}) {
				t.Errorf("events: got %v, want a failure then a load", got)
			}
			// checkChainStale reports nothing new while fresh.
			r.checkChainStale()
			if evs := ev.take(); len(evs) != 0 {
				t.Errorf("fresh again: got events %+v", evs)
			}
		})
	}
}

func TestChainFailureKeepsList(t *testing.T) {
	pa, _ := key(1)
	f := &fetcher{snap: snapshot(7, map[byte]float64{1: 2000})}
	ev := newEvents()
	r := mustNew(t, Options{Chain: &ChainOptions{Fetcher: f, OnEvent: ev.on}})
	if err := r.RefreshChain(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := r.Current()
	ev.take()
	bad := []struct {
		name string
		snap *chain.Snapshot
		err  error
	}{
		{"node error", nil, errors.New("node error 4003: State already discarded")},
		{"negative stake", &chain.Snapshot{Nodes: []chain.Node{{Hotkey: "x", Stake: -1}}}, nil},
	}
	for i, tc := range bad {
		f.set(tc.snap, tc.err)
		err := r.RefreshChain(context.Background())
		if err == nil {
			t.Fatalf("%s: got no error", tc.name)
		}
		if r.Current() != before {
			t.Errorf("%s: the list changed", tc.name)
		}
		if _, err := r.Check(pa, 1000); err != nil {
			t.Errorf("%s: the last good list does not answer: %v", tc.name, err)
		}
		evs := ev.take()
		if len(evs) != 1 || evs[0].Kind != ChainFailed || evs[0].Err == nil || evs[0].Status.Failures != i+1 || evs[0].Status.Count != 1 {
			t.Errorf("%s: got events %+v, want one failure, the %d in a row, keeping 1", tc.name, evs, i+1)
		}
	}
	st, _ := r.ChainStatus()
	if st.Failures != 2 || st.LastError == nil {
		t.Errorf("status: got %+v", st)
	}

	// A read cut off by the Registry's own shutdown is not a failure.
	f.mu.Lock()
	f.block = true
	f.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if err := r.RefreshChain(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v", err)
	}
	if evs := ev.take(); len(evs) != 0 {
		t.Errorf("cancelled: got events %+v, want none", evs)
	}
}

// A node that never answers costs Timeout, then counts as a failure.
func TestChainTimeout(t *testing.T) {
	f := &fetcher{block: true}
	r := mustNew(t, Options{Chain: &ChainOptions{Fetcher: f, Timeout: 50 * time.Millisecond}})
	start := time.Now()
	err := r.RefreshChain(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("got %v after %v, want the deadline", err, time.Since(start))
	}
	if st, _ := r.ChainStatus(); st.Failures != 1 {
		t.Errorf("failures: got %d, want 1", st.Failures)
	}
}

func TestChainCache(t *testing.T) {
	pa, a := key(1)
	pb, _ := key(2)
	dir := t.TempDir()
	cache := filepath.Join(dir, "chain-nodes.json")
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	snap := snapshot(7, map[byte]float64{1: 2000.5, 2: 10})
	r := mustNew(t, Options{Now: clk.now, Chain: &ChainOptions{Fetcher: &fetcher{snap: snap}, NetUID: 1, CacheFile: cache}})
	if err := r.RefreshChain(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Fiber's nodes.json: an object of node records keyed by hotkey.
	data, err := os.ReadFile(cache)
	if err != nil {
		t.Fatal(err)
	}
	var nodes map[string]map[string]any
	if err := json.Unmarshal(data, &nodes); err != nil {
		t.Fatal(err)
	}
	rec := nodes[a]
	for _, k := range []string{"hotkey", "coldkey", "node_id", "incentive", "netuid", "stake", "trust", "vtrust", "last_updated", "ip", "ip_type", "port", "protocol"} {
		if _, ok := rec[k]; !ok {
			t.Errorf("cache record lacks %q: %v", k, rec)
		}
	}
	if len(nodes) != 2 || rec["hotkey"] != a || rec["stake"] != 2000.5 {
		t.Errorf("cache: got %v", nodes)
	}
	if fi, err := os.Stat(cache); err != nil || !fi.ModTime().Equal(clk.now()) {
		t.Errorf("cache time: got %v, %v, want the read's time %v", fi.ModTime(), err, clk.now())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files beside the cache: got %d entries, want only the cache", len(entries))
	}
	// The same file loads as a nodes file.
	if _, err := parseNodes(data, SourceNodesFile); err != nil {
		t.Errorf("the cache is not a valid nodes.json: %v", err)
	}

	down := &fetcher{err: errors.New("unreachable")}
	restart := func(t *testing.T, age time.Duration, policy StalePolicy, netuid uint16, rule chain.StakeRule) (*Registry, []ChainEvent) {
		t.Helper()
		c := &clock{t: clk.now().Add(age)}
		ev := newEvents()
		r := mustNew(t, Options{Now: c.now, Chain: &ChainOptions{Fetcher: down, NetUID: netuid, Rule: rule, CacheFile: cache, Stale: policy, StaleAfter: 30 * time.Minute, OnEvent: ev.on}})
		return r, ev.take()
	}
	t.Run("restart while the chain is down", func(t *testing.T) {
		r, evs := restart(t, 10*time.Minute, StaleRefuse, 1, chain.StakeFiber21)
		if v, err := r.Check(pa, 1000); err != nil || v.Stake != 2000.5 || v.Source != SourceChain {
			t.Errorf("from the cache: got %+v, %v", v, err)
		}
		if _, err := r.Check(pb, 1000); err != ErrLowStake {
			t.Errorf("low stake from the cache: got %v", err)
		}
		if len(evs) != 1 || evs[0].Kind != ChainLoaded || !evs[0].FromCache || evs[0].Status.Count != 2 || evs[0].Status.Stale {
			t.Errorf("events: got %+v", evs)
		}
		if st, _ := r.ChainStatus(); !st.Refreshed.Equal(clk.now()) {
			t.Errorf("refreshed: got %v, want the cache's time %v", st.Refreshed, clk.now())
		}
	})
	t.Run("cache older than stale_after, refuse", func(t *testing.T) {
		r, evs := restart(t, 31*time.Minute, StaleRefuse, 1, chain.StakeFiber21)
		if _, err := r.Check(pa, 1000); err != ErrUnknown {
			t.Errorf("got %v, want ErrUnknown", err)
		}
		if len(evs) != 1 || !evs[0].Status.Stale || !evs[0].Status.Refusing {
			t.Errorf("events: got %+v", evs)
		}
	})
	// A cache dated in the future (a clock that ran ahead when it was
	// written, a copied file): its age cannot be known, so it is stale at
	// once and stays stale, however far ahead its date; a restart long
	// after does not make it fresh either.
	t.Run("cache dated in the future", func(t *testing.T) {
		for _, ahead := range []time.Duration{time.Minute, 365 * 24 * time.Hour} {
			r, evs := restart(t, -ahead, StaleRefuse, 1, chain.StakeFiber21)
			if _, err := r.Check(pa, 1000); err != ErrUnknown {
				t.Errorf("%v ahead: got %v, want ErrUnknown (stale, refused)", ahead, err)
			}
			if len(evs) != 1 || !evs[0].Status.Stale || !evs[0].Status.Refusing {
				t.Errorf("%v ahead: events %+v, want one stale and refusing", ahead, evs)
			}
		}
	})
	t.Run("temporaries of an interrupted write are removed", func(t *testing.T) {
		tmp := filepath.Join(dir, ".chain-nodes.json.tmp-12345")
		writeFile(t, tmp, "{")
		restart(t, time.Minute, StaleRefuse, 1, chain.StakeFiber21)
		if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want it removed at start", tmp, err)
		}
	})
	t.Run("cache older than stale_after, serve", func(t *testing.T) {
		r, _ := restart(t, 31*time.Minute, StaleServe, 1, chain.StakeFiber21)
		if _, err := r.Check(pa, 1000); err != nil {
			t.Errorf("got %v, want accepted", err)
		}
	})
	for _, tc := range []struct {
		name   string
		netuid uint16
		rule   chain.StakeRule
	}{
		{"another netuid", 2, chain.StakeFiber21},
		{"another stake rule", 1, chain.StakeFiber25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, evs := restart(t, time.Minute, StaleServe, tc.netuid, tc.rule)
			if r.Current().Len() != 0 || len(evs) != 1 || evs[0].Kind != ChainStaleness {
				t.Errorf("got %d validators, events %+v, want the cache ignored", r.Current().Len(), evs)
			}
		})
	}
	t.Run("corrupt cache", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "c.json")
		writeFile(t, bad, `{"x": `)
		r, err := New(Options{Chain: &ChainOptions{Fetcher: down, CacheFile: bad}})
		if err != nil || r.Current().Len() != 0 {
			t.Errorf("got %v, want a start without the cache", err)
		}
	})
	t.Run("cache directory missing", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "no", "dir", "c.json")
		r := mustNew(t, Options{Chain: &ChainOptions{Fetcher: &fetcher{snap: snap}, CacheFile: missing}})
		if err := r.RefreshChain(context.Background()); err != nil {
			t.Errorf("a cache that cannot be written fails the refresh: %v", err)
		}
		if _, err := r.Check(pa, 1000); err != nil {
			t.Errorf("got %v, want the list in use", err)
		}
	})
}

func TestChainBackoff(t *testing.T) {
	for _, tc := range []struct {
		n       int
		refresh time.Duration
		want    time.Duration
	}{
		{1, 5 * time.Minute, 5 * time.Second},
		{2, 5 * time.Minute, 10 * time.Second},
		{4, 5 * time.Minute, 40 * time.Second},
		{7, 5 * time.Minute, 5 * time.Minute},
		{100, 5 * time.Minute, 5 * time.Minute},
		{1, time.Second, time.Second},
		{3, 12 * time.Second, 12 * time.Second},
		{100, time.Hour, 5 * time.Minute},
	} {
		if got := chainBackoff(tc.n, tc.refresh); got != tc.want {
			t.Errorf("chainBackoff(%d, %v): got %v, want %v", tc.n, tc.refresh, got, tc.want)
		}
	}
}

func TestChainOptionsErrors(t *testing.T) {
	if _, err := New(Options{Chain: &ChainOptions{}}); err == nil {
		t.Errorf("no fetcher: got no error")
	}
	r := mustNew(t, Options{})
	if _, ok := r.ChainStatus(); ok || r.ChainStale() {
		t.Errorf("no chain source: got a status")
	}
	if err := r.RefreshChain(context.Background()); err != nil {
		t.Errorf("RefreshChain with no chain source: got %v", err)
	}
}

// Run reads the chain at once, retries a failure, and applies staleness
// on its own, on the real clock.
func TestRunChain(t *testing.T) {
	pa, _ := key(1)
	f := &fetcher{err: errors.New("not yet")}
	ev := newEvents()
	r := mustNew(t, Options{Chain: &ChainOptions{Fetcher: f, Refresh: 30 * time.Millisecond, StaleAfter: 150 * time.Millisecond, OnEvent: ev.on}})
	ev.take()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()

	wait := func(kind ChainEventKind) ChainEvent {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case e := <-ev.ch:
				if e.Kind == kind {
					return e
				}
			case <-deadline:
				t.Fatalf("no %v event", kind)
			}
		}
	}
	wait(ChainFailed)
	f.set(snapshot(9, map[byte]float64{1: 5000}), nil)
	if e := wait(ChainLoaded); e.Status.Block != 9 {
		t.Errorf("loaded: got %+v", e)
	}
	if _, err := r.Check(pa, 1000); err != nil {
		t.Errorf("after the retry: got %v", err)
	}
	// The node goes away: the list turns stale and is withdrawn.
	f.set(nil, errors.New("gone"))
	if e := wait(ChainStaleness); !e.Status.Refusing {
		t.Errorf("stale: got %+v", e)
	}
	if _, err := r.Check(pa, 1000); err != ErrUnknown {
		t.Errorf("stale: got %v, want ErrUnknown", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// The chain source against a fake subtensor node answering from the
// recorded spec-343 session, over WebSocket: a real read, a stake check on
// the recorded numbers, then the node stops and the list goes stale.
func TestChainFromRecordedNode(t *testing.T) {
	ss, err := chaintest.LoadSession(filepath.Join(testvectors.Dir(), "chain/neurons_lite_netuid1_spec343_block6852690.json"))
	if err != nil {
		t.Fatal(err)
	}
	node, err := chaintest.NewServer(ss)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	client, err := chain.New(chain.Options{URL: node.WSURL(), NetUID: 1})
	if err != nil {
		t.Fatal(err)
	}
	ev := newEvents()
	cache := filepath.Join(t.TempDir(), "chain-nodes.json")
	r := mustNew(t, Options{Chain: &ChainOptions{Fetcher: client, NetUID: 1, Refresh: 50 * time.Millisecond,
		StaleAfter: 400 * time.Millisecond, Timeout: 5 * time.Second, CacheFile: cache, OnEvent: ev.on}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)

	var loaded ChainEvent
	for found := false; !found; {
		select {
		case loaded = <-ev.ch:
			found = loaded.Kind == ChainLoaded
		case <-time.After(10 * time.Second):
			t.Fatal("no ChainLoaded")
		}
	}
	if loaded.Status.Block != 6852690 || loaded.Status.SpecVersion != 343 || loaded.Status.Count != 1024 {
		t.Errorf("loaded: got %+v", loaded.Status)
	}
	uid245 := pubOf(t, "5D1saVvssckE1XoPwPzdHrqYZtvBJ3vESsrPNxZ4zAxbKGs1")
	uid24 := pubOf(t, "5HbScNssaEfioJHXjcXdpyqo1AKnYjymidGF8opcF9rTFZdT")
	if v, err := r.Check(uid245, 1000); err != nil || v.Stake != 4342.02989846 {
		t.Errorf("uid 245: got %+v, %v, want accepted", v, err)
	}
	if _, err := r.Check(uid24, 1000); err != ErrLowStake {
		t.Errorf("uid 24: got %v, want ErrLowStake", err)
	}
	node.Close()
	for {
		select {
		case e := <-ev.ch:
			if e.Kind == ChainFailed && chain.FailureReason(e.Err) != chain.ReasonUnreachable {
				t.Errorf("with the node gone: reason %s (%v)", chain.FailureReason(e.Err), e.Err)
			}
			if e.Kind != ChainStaleness {
				continue
			}
			if _, err := r.Check(uid245, 1000); err != ErrUnknown {
				t.Errorf("stale: got %v, want ErrUnknown", err)
			}
			return
		case <-time.After(10 * time.Second):
			t.Fatal("the list never turned stale")
		}
	}
}

// Lookups run while the chain list is replaced and withdrawn; -race checks
// the hand-over.
func TestConcurrentCheckAndChain(t *testing.T) {
	pa, a := key(1)
	pb, _ := key(2)
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	f := &fetcher{snap: snapshot(1, map[byte]float64{2: 5000})}
	r := mustNew(t, Options{Static: []StaticEntry{{a, 5000}}, Now: clk.now, Chain: &ChainOptions{Fetcher: f, StaleAfter: time.Minute}})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := r.Check(pa, 1000); err != nil {
					t.Errorf("static validator: %v", err)
					return
				}
				r.Check(pb, 1000)
				r.ChainStatus()
			}
		})
	}
	for range 50 {
		if err := r.RefreshChain(context.Background()); err != nil {
			t.Fatal(err)
		}
		clk.add(2 * time.Minute)
		r.checkChainStale()
	}
	close(stop)
	wg.Wait()
}
