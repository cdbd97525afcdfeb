package validators

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/nodes"
)

// DefaultPoll is how often the nodes file is checked when Options.Poll is
// not positive.
const DefaultPoll = 5 * time.Second

// racyWindow is how close to a check a file's change time must be for the
// check not to trust an unchanged stamp: a file rewritten twice within the
// file system's timestamp granularity keeps the same times.
const racyWindow = 2 * time.Second

// StaticEntry is one validator given by the operator.
type StaticEntry struct {
	// Hotkey is the validator's SS58 address.
	Hotkey string
	// Stake is the stake to credit it with; finite and >= 0.
	Stake float64
}

// Options configures a Registry.
type Options struct {
	// Static lists validators by hotkey; they win over the nodes file.
	Static []StaticEntry
	// NodesFile is the path of a Fiber nodes.json; empty for none.
	NodesFile string
	// Poll is how often Run checks NodesFile for changes; DefaultPoll when
	// not positive.
	Poll time.Duration
	// Logger receives reloads and reload failures; nil discards them. The
	// caller adds any component attribute.
	Logger *slog.Logger
	// OnReload, when set, is called at New for every source, then after
	// every read of the nodes file: Run reads it when its size or time
	// changed, Refresh always. A file rewritten unchanged counts as a good
	// read; the same bad content read again is not reported twice. count
	// is the number of validators the source now supplies (after a
	// failure, the number kept from its last good read); err is nil on
	// success. It is called from Run's or Refresh's goroutine with no lock
	// held.
	OnReload func(source string, count int, err error)
	// Now returns the time recorded as LastRefresh, and the clock of the
	// chain list's age; time.Now when nil.
	Now func() time.Time
	// Chain, when set, adds a list read from a subtensor node, below the
	// nodes file in precedence. OnReload is not called for it; see
	// ChainOptions.OnEvent.
	Chain *ChainOptions
}

// Registry holds the current validator Set and reloads it from its sources.
// It is safe for concurrent use; Check takes no lock.
type Registry struct {
	set         atomic.Pointer[Set]
	lastRefresh atomic.Int64 // unix nanoseconds of the last good read

	static   []Validator // immutable after New
	chain    *chainSource
	path     string
	poll     time.Duration
	log      *slog.Logger
	onReload func(string, int, error)
	now      func() time.Time

	mu       sync.Mutex // serializes reads of the nodes file and the fields below
	file     []Validator
	stamp    nodes.FileStamp // of the last attempted read
	stampAt  time.Time       // when stamp was taken
	hash     [32]byte        // content hash of the last attempted read
	hashGood bool            // whether that content loaded
	fileErr  error           // why the last read failed; nil after a good one
	failedAt time.Time       // when reads began to fail
}

// New builds a Registry from opts. A bad static entry, or a nodes file that
// is missing or does not load, is an error. The chain source's cache file
// is loaded if usable; the chain itself is first read by Run.
func New(opts Options) (*Registry, error) {
	r := &Registry{
		path:     opts.NodesFile,
		poll:     opts.Poll,
		log:      opts.Logger,
		onReload: opts.OnReload,
		now:      opts.Now,
	}
	if r.poll <= 0 {
		r.poll = DefaultPoll
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}

	seen := make(map[[32]byte]int)
	for i, e := range opts.Static {
		pub, _, err := ss58.Decode(e.Hotkey)
		if err != nil {
			return nil, fmt.Errorf("static validator %d (%q): %w", i, e.Hotkey, err)
		}
		if err := checkStake(e.Stake); err != nil {
			return nil, fmt.Errorf("static validator %d (%q): %w", i, e.Hotkey, err)
		}
		if j, dup := seen[pub]; dup {
			return nil, fmt.Errorf("static validator %d (%q): the same key as static validator %d", i, e.Hotkey, j)
		}
		seen[pub] = i
		r.static = append(r.static, Validator{Hotkey: e.Hotkey, PublicKey: pub, Stake: e.Stake, Source: SourceStatic})
	}

	cached := false
	if opts.Chain != nil {
		cs, err := newChainSource(*opts.Chain)
		if err != nil {
			return nil, err
		}
		r.chain = cs
		cached = r.loadChainCache()
	}

	r.mu.Lock()
	if r.path != "" {
		if _, err := r.readLocked(true); err != nil {
			r.mu.Unlock()
			return nil, err
		}
	}
	var chainStatus ChainStatus
	if r.chain != nil {
		chainStatus = r.chainStatusLocked(r.now())
		r.chain.refusing, r.chain.stale = chainStatus.Refusing, chainStatus.Stale
	}
	r.publish()
	r.mu.Unlock()
	r.lastRefresh.Store(r.now().UnixNano())
	if r.onReload != nil {
		r.onReload(SourceStatic, len(r.static), nil)
		if r.path != "" {
			r.onReload(SourceNodesFile, len(r.file), nil)
		}
	}
	if r.chain != nil {
		if cached {
			r.chainEvent(ChainEvent{Kind: ChainLoaded, Status: chainStatus, FromCache: true})
		} else {
			r.chainEvent(ChainEvent{Kind: ChainStaleness, Status: chainStatus})
		}
	}
	return r, nil
}

// publish swaps in a Set built from the current layers, lowest precedence
// first: the chain list (unless withheld as stale), the nodes file, the
// static entries. r.mu must be held.
func (r *Registry) publish() {
	var chainList []Validator
	if r.chain != nil && !r.chain.refusing {
		chainList = r.chain.list
	}
	r.set.Store(newSet(chainList, r.file, r.static))
}

// Current returns the current Set. It never returns nil.
func (r *Registry) Current() *Set { return r.set.Load() }

// LastRefresh returns when the sources were last read successfully: at New,
// then at every good read of the nodes file, changed or not, and of the
// chain.
func (r *Registry) LastRefresh() time.Time {
	return time.Unix(0, r.lastRefresh.Load())
}

// Run polls the nodes file every Options.Poll, reloading it when it
// changes, and reads the chain (see ChainOptions), until ctx is done. With
// neither source it returns at once. It returns nil.
func (r *Registry) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if r.path != "" {
		wg.Go(func() { r.pollFile(ctx) })
	}
	if r.chain != nil {
		wg.Go(func() { r.runChain(ctx) })
	}
	wg.Wait()
	return nil
}

// pollFile checks the nodes file every r.poll until ctx is done.
func (r *Registry) pollFile(ctx context.Context) {
	t := time.NewTicker(r.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.pollOnce()
		}
	}
}

// Refresh reads the nodes file now, whether or not it looks changed, and
// returns the error that kept the last good list in place, if any. It is
// meant for an operator's reload signal. With no nodes file it does
// nothing. The chain is read by RefreshChain.
func (r *Registry) Refresh() error {
	if r.path == "" {
		return nil
	}
	r.mu.Lock()
	res, err := r.readLocked(true)
	count := len(r.file)
	r.mu.Unlock()
	r.report(res, count, err)
	return err
}

// pollOnce reads the nodes file if its size or modification time changed
// since the last check, or if they are too recent to be trusted.
func (r *Registry) pollOnce() {
	r.mu.Lock()
	st := r.statLocked()
	if st.Same(r.stamp) && r.stampAt.Sub(st.Changed()) > racyWindow {
		r.mu.Unlock()
		return
	}
	res, err := r.readLocked(false)
	count := len(r.file)
	r.mu.Unlock()
	if res != sameBad {
		r.report(res, count, err)
	}
}

func (r *Registry) statLocked() nodes.FileStamp { return nodes.StatFile(r.path) }

// readResult says what a read of the nodes file found.
type readResult int

const (
	loaded   readResult = iota // new content, now in use
	sameGood                   // the content in use, confirmed
	failed                     // unreadable or bad; the last good list stays
	sameBad                    // the same bad content as the last attempt
)

// readLocked reads and parses the nodes file and publishes a new Set when
// the content is new and good. Unless force is set, content identical to
// the last attempt is not parsed again. r.mu must be held.
func (r *Registry) readLocked(force bool) (readResult, error) {
	// stampAt is compared with file times, which come from the real clock,
	// so it is taken from the real clock too, never from Options.Now.
	r.stamp, r.stampAt = r.statLocked(), time.Now()
	res, err := r.loadLocked(force)
	switch {
	case res == sameBad:
		// Still the content that failed: the error stands.
	case err == nil:
		r.fileErr = nil
	case r.fileErr == nil:
		r.fileErr, r.failedAt = err, r.stampAt
	default:
		r.fileErr = err
	}
	return res, err
}

// loadLocked is readLocked's read and parse. r.mu must be held.
func (r *Registry) loadLocked(force bool) (readResult, error) {
	data, err := nodes.ReadFile(r.path)
	if err != nil {
		// Forget the content, so the file coming back is read and reported
		// even if it comes back unchanged.
		r.hash, r.hashGood = [32]byte{}, false
		return failed, fmt.Errorf("loading nodes file %q: %w", r.path, err)
	}
	h := sha256.Sum256(data)
	if !force && h == r.hash {
		if !r.hashGood {
			return sameBad, nil
		}
		r.lastRefresh.Store(r.now().UnixNano())
		return sameGood, nil
	}
	r.hash, r.hashGood = h, false
	vals, err := parseNodes(data, SourceNodesFile)
	if err != nil {
		return failed, fmt.Errorf("loading nodes file %q: %w", r.path, err)
	}
	r.hashGood = true
	r.file = vals
	r.publish()
	r.lastRefresh.Store(r.now().UnixNano())
	return loaded, nil
}

// NodesFileError returns why the nodes file could not be loaded, and since
// when, while its reads fail (the last good list stays in use); nil when
// the last read was good or there is no nodes file.
func (r *Registry) NodesFileError() (error, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fileErr, r.failedAt
}

// report logs the outcome of a nodes file read and passes it to OnReload.
func (r *Registry) report(res readResult, count int, err error) {
	switch res {
	case failed:
		r.log.Warn("nodes file not reloaded; keeping the last good list",
			"path", r.path, "kept", count, "error", err)
	case loaded:
		r.log.Info("nodes file loaded", "path", r.path, "validators", count, "total", r.Current().Len())
	default:
		r.log.Debug("nodes file unchanged", "path", r.path, "validators", count)
	}
	if r.onReload != nil {
		r.onReload(SourceNodesFile, count, err)
	}
}
