package validators

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fibergate/fibergate/chain"
	"github.com/fibergate/fibergate/nodes"
)

// Defaults of ChainOptions, taken when a field is not positive.
const (
	// DefaultChainRefresh is Fiber's metagraph sync interval.
	DefaultChainRefresh = 5 * time.Minute
	// DefaultChainStaleAfter is six missed refreshes.
	DefaultChainStaleAfter = 30 * time.Minute
	// DefaultChainTimeout bounds one refresh.
	DefaultChainTimeout = 30 * time.Second
	// maxChainBackoff caps the wait before retrying a failed refresh; it
	// is also capped by the refresh interval.
	maxChainBackoff = 5 * time.Minute
	// firstChainBackoff is the wait after the first failure.
	firstChainBackoff = 5 * time.Second
)

// StalePolicy says what happens to validators known only from the chain
// once the chain list is older than ChainOptions.StaleAfter.
type StalePolicy int

const (
	// StaleRefuse drops the chain list from the validator set while it is
	// stale: validators known only from the chain are refused as unknown,
	// static and nodes-file validators keep working. This is the default,
	// as in bittensor-auth: stake that cannot be confirmed is not trusted.
	StaleRefuse StalePolicy = iota
	// StaleServe keeps serving the last good list however old it is.
	StaleServe
)

// ChainFetcher reads a subnet's nodes from the chain. *chain.Client is
// one. Fetch must return when ctx ends.
type ChainFetcher interface {
	Fetch(ctx context.Context) (*chain.Snapshot, error)
}

// ChainOptions configures the chain source.
type ChainOptions struct {
	// Fetcher reads the chain. Required.
	Fetcher ChainFetcher
	// NetUID and Rule are the Fetcher's; a cache file written for another
	// subnet or stake rule is not loaded.
	NetUID uint16
	Rule   chain.StakeRule
	// Refresh is how often the list is read; DefaultChainRefresh when not
	// positive. A failed read is retried sooner, with backoff.
	Refresh time.Duration
	// StaleAfter is how old the last good list may be before Stale
	// applies; DefaultChainStaleAfter when not positive.
	StaleAfter time.Duration
	// Stale is what happens to chain-only validators after StaleAfter.
	Stale StalePolicy
	// Timeout bounds one read, connection and every call included;
	// DefaultChainTimeout when not positive.
	Timeout time.Duration
	// CacheFile, when set, is where the last good list is kept, in
	// Fiber's nodes.json format, written atomically after every good read
	// with the read's time as its modification time. New loads it, so a
	// restart while the chain is unreachable still has a list; its age is
	// its modification time.
	CacheFile string
	// OnEvent, when set, is called with every ChainEvent, from the
	// goroutine that caused it, with no lock held.
	OnEvent func(ChainEvent)
}

// ChainEventKind says what happened to the chain list.
type ChainEventKind int

const (
	// ChainLoaded means a new list is in use: read from the chain, or from
	// the cache file at New.
	ChainLoaded ChainEventKind = iota
	// ChainFailed means a read failed; the last good list stays.
	ChainFailed
	// ChainStaleness reports whether the list is stale: at New when no
	// cache was loaded, and whenever the list turns stale by age.
	ChainStaleness
)

// ChainEvent is one change of the chain source, for logs and metrics.
type ChainEvent struct {
	Kind ChainEventKind
	// Status is the chain source's status just after the event.
	Status ChainStatus
	// FromCache is set on a ChainLoaded from the cache file.
	FromCache bool
	// Err is why a read failed (ChainFailed).
	Err error
}

// ChainStatus describes the chain list.
type ChainStatus struct {
	// Count is the number of validators in the last good list.
	Count int
	// Refreshed is when the last good list was read from the chain; zero
	// when there has been none.
	Refreshed time.Time
	// Block and SpecVersion are the chain block and runtime of that read
	// (zero for a list from the cache file).
	Block       uint64
	SpecVersion uint32
	// Stale is set when there is no list or it is older than StaleAfter.
	Stale bool
	// Refusing is set when Stale applies StaleRefuse: the chain list is
	// out of the validator set. It is exact at the time of the call; the
	// set follows within moments.
	Refusing bool
	// StaleAfter is the configured age limit.
	StaleAfter time.Duration
	// Failures counts the reads that failed since the last good one, and
	// LastError is the last one's error.
	Failures  int
	LastError error
}

// chainSource is the Registry's chain state. The fields below refreshMu
// are guarded by the Registry's mu.
type chainSource struct {
	opts      ChainOptions
	refreshMu sync.Mutex // one read at a time

	list      []Validator
	refreshed time.Time
	block     uint64
	spec      uint32
	failures  int
	lastErr   error
	refusing  bool // the list is withheld from the published set
	stale     bool // last reported staleness
}

// newChainSource applies ChainOptions' defaults.
func newChainSource(o ChainOptions) (*chainSource, error) {
	if o.Fetcher == nil {
		return nil, errors.New("chain source: no fetcher")
	}
	if o.Refresh <= 0 {
		o.Refresh = DefaultChainRefresh
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = DefaultChainStaleAfter
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultChainTimeout
	}
	return &chainSource{opts: o}, nil
}

// staleAt reports whether the list is stale at now. A list read "after"
// now (a cache file dated in the future, a clock stepped back) has an age
// nobody can vouch for, and is stale: a time in the future must never
// postpone staleness.
func (cs *chainSource) staleAt(now time.Time) bool {
	return cs.refreshed.IsZero() || now.Before(cs.refreshed) || now.Sub(cs.refreshed) > cs.opts.StaleAfter
}

// chainStatusLocked returns the chain status at now. r.mu must be held.
func (r *Registry) chainStatusLocked(now time.Time) ChainStatus {
	cs := r.chain
	stale := cs.staleAt(now)
	return ChainStatus{
		Count: len(cs.list), Refreshed: cs.refreshed, Block: cs.block, SpecVersion: cs.spec,
		Stale: stale, Refusing: stale && cs.opts.Stale == StaleRefuse, StaleAfter: cs.opts.StaleAfter,
		Failures: cs.failures, LastError: cs.lastErr,
	}
}

// ChainStatus returns the chain list's status, and false when there is
// no chain source.
func (r *Registry) ChainStatus() (ChainStatus, bool) {
	if r.chain == nil {
		return ChainStatus{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.chainStatusLocked(r.now()), true
}

// ChainStale reports whether there is a chain source whose list is stale.
func (r *Registry) ChainStale() bool {
	st, ok := r.ChainStatus()
	return ok && st.Stale
}

// RefreshChain reads the chain now and, on success, puts the new list in
// place and writes the cache file. On failure the last good list stays,
// and the error is returned, logged and reported. With no chain source it
// does nothing. Concurrent calls run one after the other.
func (r *Registry) RefreshChain(ctx context.Context) error {
	cs := r.chain
	if cs == nil {
		return nil
	}
	cs.refreshMu.Lock()
	defer cs.refreshMu.Unlock()

	fctx, cancel := context.WithTimeout(ctx, cs.opts.Timeout)
	snap, err := cs.opts.Fetcher.Fetch(fctx)
	cancel()
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: not a failure of the chain
	}
	var vals []Validator
	if err == nil {
		vals, err = chainValidators(snap)
	}
	if err != nil {
		r.mu.Lock()
		cs.failures++
		cs.lastErr = err
		st := r.chainStatusLocked(r.now())
		r.mu.Unlock()
		r.log.Warn("chain validator list not refreshed; keeping the last good list",
			"reason", chain.FailureReason(err), "kept", st.Count, "failures", st.Failures,
			"stale", st.Stale, "error", err)
		r.chainEvent(ChainEvent{Kind: ChainFailed, Status: st, Err: err})
		return err
	}

	now := r.now()
	if cs.opts.CacheFile != "" {
		if err := writeChainCache(cs.opts.CacheFile, snap.Nodes, now); err != nil {
			r.log.Warn("chain validator list not saved", "path", cs.opts.CacheFile, "error", err)
		}
	}
	r.mu.Lock()
	cs.list, cs.refreshed, cs.block, cs.spec = vals, now, snap.Block, snap.SpecVersion
	cs.failures, cs.lastErr = 0, nil
	cs.refusing, cs.stale = false, false
	r.publish()
	r.lastRefresh.Store(now.UnixNano())
	st := r.chainStatusLocked(now)
	total := r.set.Load().Len()
	r.mu.Unlock()
	r.log.Info("chain validator list refreshed", "block", snap.Block, "spec_version", snap.SpecVersion,
		"validators", st.Count, "total", total)
	r.chainEvent(ChainEvent{Kind: ChainLoaded, Status: st})
	return nil
}

// chainValidators turns a snapshot into validators. A hotkey listed twice
// keeps its last entry, as Fiber's dict of nodes does.
func chainValidators(snap *chain.Snapshot) ([]Validator, error) {
	out := make([]Validator, 0, len(snap.Nodes))
	at := make(map[[32]byte]int, len(snap.Nodes))
	for _, n := range snap.Nodes {
		if err := checkStake(n.Stake); err != nil {
			return nil, fmt.Errorf("%w: node %s: %v", chain.ErrBadAnswer, n.Hotkey, err)
		}
		v := Validator{Hotkey: n.Hotkey, PublicKey: n.PublicKey, Stake: n.Stake, Source: SourceChain}
		if i, dup := at[v.PublicKey]; dup {
			out[i] = v
			continue
		}
		at[v.PublicKey] = len(out)
		out = append(out, v)
	}
	return out, nil
}

func (r *Registry) chainEvent(ev ChainEvent) {
	if f := r.chain.opts.OnEvent; f != nil {
		f(ev)
	}
}

// checkChainStale withholds the chain list from the set, or reports it
// stale, once it has aged past StaleAfter.
func (r *Registry) checkChainStale() {
	r.mu.Lock()
	cs := r.chain
	now := r.now()
	st := r.chainStatusLocked(now)
	changed := st.Stale != cs.stale
	cs.stale = st.Stale
	if st.Refusing != cs.refusing {
		cs.refusing = st.Refusing
		r.publish()
	}
	r.mu.Unlock()
	if !changed {
		return
	}
	if st.Refusing {
		r.log.Warn("chain validator list is stale; refusing validators known only from the chain",
			"refreshed", st.Refreshed, "stale_after", st.StaleAfter, "failures", st.Failures)
	} else if st.Stale {
		r.log.Warn("chain validator list is stale; still serving it",
			"refreshed", st.Refreshed, "stale_after", st.StaleAfter, "failures", st.Failures)
	}
	r.chainEvent(ChainEvent{Kind: ChainStaleness, Status: st})
}

// runChain reads the chain at once, then every Refresh, retrying failures
// sooner with backoff, and applies staleness the moment it begins, until
// ctx is done.
func (r *Registry) runChain(ctx context.Context) {
	cs := r.chain
	next := r.now()
	for {
		now := r.now()
		if !now.Before(next) {
			err := r.RefreshChain(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				r.mu.Lock()
				n := cs.failures
				r.mu.Unlock()
				next = r.now().Add(chainBackoff(n, cs.opts.Refresh))
			} else {
				next = r.now().Add(cs.opts.Refresh)
			}
			now = r.now()
		}
		r.checkChainStale()
		wait := next.Sub(now)
		r.mu.Lock()
		if !cs.refreshed.IsZero() && !cs.stale {
			// Wake just after the list turns stale.
			if d := cs.refreshed.Add(cs.opts.StaleAfter).Sub(now) + time.Millisecond; d < wait {
				wait = d
			}
		}
		r.mu.Unlock()
		t := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// chainBackoff is the wait before the next read after n failures in a
// row: 5s, doubling, at most 5 minutes and never more than refresh.
func chainBackoff(n int, refresh time.Duration) time.Duration {
	d := firstChainBackoff
	for i := 1; i < n && d < maxChainBackoff; i++ {
		d *= 2
	}
	return min(d, maxChainBackoff, refresh)
}

// loadChainCache reads the cache file into the chain list, if there is a
// usable one. A missing, unreadable or mismatched cache is logged and
// skipped: it only saves waiting for the first read.
func (r *Registry) loadChainCache() (loaded bool) {
	cs := r.chain
	path := cs.opts.CacheFile
	if path == "" {
		return false
	}
	removeCacheTemporaries(path, r.log)
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		r.log.Info("no chain validator cache yet", "path", path)
		return false
	}
	var vals []Validator
	if err == nil {
		var data []byte
		if data, err = nodes.ReadFile(path); err == nil {
			vals, err = parseNodes(data, SourceChain, cacheMatches(cs.opts.NetUID, cs.opts.Rule))
		}
	}
	if err != nil {
		r.log.Warn("chain validator cache not loaded", "path", path, "error", err)
		return false
	}
	cs.list, cs.refreshed = vals, fi.ModTime()
	if now := r.now(); cs.refreshed.After(now) {
		r.log.Warn("chain validator cache is dated in the future: its age is unknown, so it counts as stale until the chain is read",
			"path", path, "saved", cs.refreshed, "now", now)
	}
	r.log.Info("chain validator cache loaded", "path", path, "validators", len(vals), "saved", cs.refreshed)
	return true
}

// cacheMatches returns the check that a cache file was written for netuid
// and rule: every node names netuid, and carries alpha_stake exactly when
// the rule is Fiber 2.5's.
func cacheMatches(netuid uint16, rule chain.StakeRule) func(*nodes.Node) error {
	return func(n *nodes.Node) error {
		if n.NetUID != int(netuid) {
			return fmt.Errorf("not of netuid %d", netuid)
		}
		if n.AlphaStake != (rule == chain.StakeFiber25) {
			return fmt.Errorf("written under another stake rule than %s", rule)
		}
		return nil
	}
}

// cacheTempInfix follows ".<cache file name>" in the name of the temporary
// file a cache write renames into place.
const cacheTempInfix = ".tmp-"

// removeCacheTemporaries removes the temporary files of cache writes that
// the process died in the middle of.
func removeCacheTemporaries(path string, log *slog.Logger) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + base + cacheTempInfix
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err == nil {
			log.Info("removed a temporary file an interrupted save left", "path", p)
		}
	}
}

// writeChainCache writes nodes as Fiber's nodes.json (an object keyed by
// hotkey) to path, atomically, with modification time at.
func writeChainCache(path string, nodes []chain.Node, at time.Time) error {
	m := make(map[string]chain.Node, len(nodes))
	for _, n := range nodes {
		m[n.Hotkey] = n
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+cacheTempInfix+"*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chtimes(tmp.Name(), at, at); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
