package keystore

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/fibergate/fibergate/crypto/fernet"
)

// DefaultPersistInterval is the interval Persister uses when given none.
const DefaultPersistInterval = 30 * time.Second

// PersistOptions configures a Persister.
type PersistOptions struct {
	// Path is the snapshot file. Required.
	Path string
	// Key is the storage key the snapshot is sealed under. Required.
	Key *fernet.Key
	// Interval is how often Run checks for changes and saves. Default
	// DefaultPersistInterval (30s).
	Interval time.Duration
	// OnError, if set, receives every failed save made by Run.
	OnError func(error)
	// OnSaved, if set, receives the number of entries of every successful
	// save.
	OnSaved func(n int)
	// Now is the clock used to leave expired entries out. Default time.Now.
	Now func() time.Time
}

// Persister saves a Memory store's entries to an encrypted snapshot file in
// the background. It is safe for concurrent use; saves never overlap.
type Persister struct {
	store *Memory
	opts  PersistOptions

	mu    sync.Mutex // serialises saves
	saved uint64     // store.changeCount() at the last successful save
}

// NewPersister returns a Persister for store. The store's current contents
// count as saved (typically they were just restored from the same file), so
// Run writes only after a change.
func NewPersister(store *Memory, opts PersistOptions) (*Persister, error) {
	switch {
	case store == nil:
		return nil, errors.New("keystore: persister needs a store")
	case opts.Path == "":
		return nil, errors.New("keystore: persister needs a snapshot path")
	case opts.Key == nil:
		return nil, errors.New("keystore: persister needs a storage key")
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultPersistInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Persister{store: store, opts: opts, saved: store.changeCount()}, nil
}

// Run saves every Interval when the store changed since the last successful
// save, until ctx is done. A failed save goes to OnError and is tried again
// at the next interval; Run itself never stops on one. Call Save at shutdown
// to write the final state.
func (p *Persister) Run(ctx context.Context) {
	t := time.NewTicker(p.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if p.store.changeCount() == p.savedCount() {
				continue
			}
			if err := p.Save(); err != nil && p.opts.OnError != nil {
				p.opts.OnError(err)
			}
		}
	}
}

func (p *Persister) savedCount() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.saved
}

// Save writes the store's unexpired entries now, changed or not.
func (p *Persister) Save() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Read the counter first: a change racing with this save bumps it past
	// the value recorded, so the next interval saves again.
	c := p.store.changeCount()
	entries := p.store.Entries(p.opts.Now())
	if err := SaveSnapshot(p.opts.Path, p.opts.Key, entries); err != nil {
		return err
	}
	p.saved = c
	if p.opts.OnSaved != nil {
		p.opts.OnSaved(len(entries))
	}
	return nil
}
