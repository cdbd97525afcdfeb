package keystore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryOptions configures a Memory store. Zero fields take the defaults.
type MemoryOptions struct {
	// TTL is how long an entry stays usable after Created; it also caps an
	// Expires given to Put. Default DefaultTTL (5h).
	TTL time.Duration
	// MaxPerValidator is how many keys one validator may hold; putting one
	// more drops the validator's oldest (by Created). Default
	// DefaultMaxPerValidator (64).
	MaxPerValidator int
	// Shards is the number of shards, rounded up to a power of two.
	// Default DefaultShards (64).
	Shards int
}

// Memory is an in-process Store. Entries are spread over shards by
// validator, each shard behind its own lock, so readers of different
// validators never wait for each other and no operation locks the whole
// store. Memory is safe for concurrent use; make one with NewMemory.
type Memory struct {
	ttl     time.Duration
	maxPer  int
	seed    maphash.Seed
	shards  []shard
	mask    uint64
	count   atomic.Int64
	changes atomic.Uint64
}

type shard struct {
	mu   sync.RWMutex
	keys map[[32]byte]map[string]*Entry
	// Keep neighbouring shards' locks off each other's cache lines.
	_ [96]byte
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store configured by opts.
func NewMemory(opts MemoryOptions) *Memory {
	var n int
	opts.TTL, opts.MaxPerValidator, n = sizes(opts.TTL, opts.MaxPerValidator, opts.Shards)
	m := &Memory{
		ttl:    opts.TTL,
		maxPer: opts.MaxPerValidator,
		seed:   maphash.MakeSeed(),
		shards: make([]shard, n),
		mask:   uint64(n - 1),
	}
	for i := range m.shards {
		m.shards[i].keys = make(map[[32]byte]map[string]*Entry)
	}
	return m
}

// sizes applies the defaults every Store shares to a TTL, a per-validator
// cap and a shard count, and rounds the shard count up to a power of two.
func sizes(ttl time.Duration, maxPer, shards int) (time.Duration, int, int) {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if maxPer <= 0 {
		maxPer = DefaultMaxPerValidator
	}
	if shards <= 0 {
		shards = DefaultShards
	}
	return ttl, maxPer, 1 << bits.Len(uint(shards-1))
}

func (m *Memory) shard(validator *[32]byte) *shard {
	return &m.shards[maphash.Bytes(m.seed, validator[:])&m.mask]
}

// Get returns the entry under (validator, uuid) unless it is missing or has
// expired at now (an expired entry is absent even before Sweep removes it).
// It takes only a read lock on one shard and does not allocate.
func (m *Memory) Get(validator [32]byte, uuid []byte, now time.Time) (*Entry, error) {
	s := m.shard(&validator)
	s.mu.RLock()
	e := s.keys[validator][string(uuid)]
	s.mu.RUnlock()
	if e == nil || !now.Before(e.Expires) {
		return nil, ErrNotFound
	}
	return e, nil
}

// Put stores a copy of e, replacing any entry under the same (validator,
// uuid). A zero Created is taken as now, and Expires is set to Created+TTL
// when it is zero or later than that. When the validator then holds more
// than MaxPerValidator entries, its oldest (by Created, then uuid) are
// dropped. Put returns ErrInvalidEntry or ErrExpired without storing.
func (m *Memory) Put(e *Entry, now time.Time) error {
	if err := checkEntry(e); err != nil {
		return err
	}
	stored := *e
	if stored.Created.IsZero() {
		stored.Created = now
	}
	if limit := stored.Created.Add(m.ttl); stored.Expires.IsZero() || stored.Expires.After(limit) {
		stored.Expires = limit
	}
	if !now.Before(stored.Expires) {
		return ErrExpired
	}

	s := m.shard(&stored.Validator)
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := s.keys[stored.Validator]
	if keys == nil {
		keys = make(map[string]*Entry)
		s.keys[stored.Validator] = keys
	}
	if _, replaced := keys[stored.UUID]; !replaced {
		m.count.Add(1)
	}
	keys[stored.UUID] = &stored
	for len(keys) > m.maxPer {
		delete(keys, oldest(keys).UUID)
		m.count.Add(-1)
	}
	m.changes.Add(1)
	return nil
}

func checkEntry(e *Entry) error {
	switch {
	case e == nil:
		return fmt.Errorf("%w: nil", ErrInvalidEntry)
	case e.Key == nil:
		return fmt.Errorf("%w: no key", ErrInvalidEntry)
	case e.UUID == "":
		return fmt.Errorf("%w: empty uuid", ErrInvalidEntry)
	case len(e.UUID) > MaxUUIDLen:
		return fmt.Errorf("%w: uuid of %d bytes, over %d", ErrInvalidEntry, len(e.UUID), MaxUUIDLen)
	case e.Validator == [32]byte{}:
		return fmt.Errorf("%w: all-zero validator key", ErrInvalidEntry)
	}
	return nil
}

// oldest returns the entry with the earliest Created, ties broken by uuid so
// the choice does not depend on map order.
func oldest(keys map[string]*Entry) *Entry {
	var o *Entry
	for _, e := range keys {
		if o == nil || e.Created.Before(o.Created) || (e.Created.Equal(o.Created) && e.UUID < o.UUID) {
			o = e
		}
	}
	return o
}

// Delete removes the entry under (validator, uuid), if any.
func (m *Memory) Delete(validator [32]byte, uuid []byte) {
	s := m.shard(&validator)
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := s.keys[validator]
	if _, ok := keys[string(uuid)]; !ok {
		return
	}
	delete(keys, string(uuid))
	if len(keys) == 0 {
		delete(s.keys, validator)
	}
	m.count.Add(-1)
	m.changes.Add(1)
}

// Len returns the number of entries held, including expired ones Sweep has
// not removed yet.
func (m *Memory) Len() int {
	return int(m.count.Load())
}

// Sweep removes the entries expired at now and returns how many it removed.
// It locks one shard at a time.
func (m *Memory) Sweep(now time.Time) (removed int) {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for v, keys := range s.keys {
			for u, e := range keys {
				if !now.Before(e.Expires) {
					delete(keys, u)
					removed++
				}
			}
			if len(keys) == 0 {
				delete(s.keys, v)
			}
		}
		s.mu.Unlock()
	}
	if removed > 0 {
		m.count.Add(int64(-removed))
		m.changes.Add(1)
	}
	return removed
}

// DefaultSweepInterval is the interval Run uses when given none.
const DefaultSweepInterval = time.Minute

// Run calls Sweep every interval (DefaultSweepInterval if every <= 0) with
// the current time until ctx is done.
func (m *Memory) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultSweepInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			m.Sweep(now)
		}
	}
}

// Entries returns copies of the entries not expired at now, ordered by
// validator and uuid. The copies share the (immutable) keys.
func (m *Memory) Entries(now time.Time) []*Entry {
	out := make([]*Entry, 0, m.Len())
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.RLock()
		for _, keys := range s.keys {
			for _, e := range keys {
				if now.Before(e.Expires) {
					c := *e
					out = append(out, &c)
				}
			}
		}
		s.mu.RUnlock()
	}
	slices.SortFunc(out, func(a, b *Entry) int {
		if c := bytes.Compare(a.Validator[:], b.Validator[:]); c != 0 {
			return c
		}
		return strings.Compare(a.UUID, b.UUID)
	})
	return out
}

// Restore puts every entry not expired at now, keeping its Created and
// Expires (Expires still capped at Created+TTL), and returns how many it
// stored. Expired entries are skipped silently; invalid ones are skipped and
// reported together in the error.
func (m *Memory) Restore(entries []*Entry, now time.Time) (int, error) {
	var errs []error
	n := 0
	for i, e := range entries {
		if e != nil && !e.Expires.IsZero() && !now.Before(e.Expires) {
			continue
		}
		switch err := m.Put(e, now); {
		case err == nil:
			n++
		case errors.Is(err, ErrExpired):
		default:
			errs = append(errs, fmt.Errorf("restoring entry %d: %w", i, err))
		}
	}
	return n, errors.Join(errs...)
}

// changeCount returns a number that grows whenever the stored entries
// change, so a persister can tell whether there is anything new to save.
func (m *Memory) changeCount() uint64 {
	return m.changes.Load()
}
