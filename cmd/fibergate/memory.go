package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/fibergate/fibergate/config"
	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/keystore"
	"github.com/fibergate/fibergate/metrics"
	"github.com/fibergate/fibergate/proxy"
	"github.com/fibergate/fibergate/replay"
)

// memoryBackend is keystore.backend memory: the keys and the replay guard
// in this process and, with keystore.persist_file, both kept across
// restarts (the key snapshot, and the guard's state beside it).
type memoryBackend struct {
	cfg       *config.Config
	log       *slog.Logger
	store     *keystore.Memory
	guard     *memoryGuard
	saved     *savedKeys          // keystore.persist_file, until start
	persister *keystore.Persister // keystore.persist_file
	started   bool                // start reached the guard
}

var _ backend = (*memoryBackend)(nil)

// openMemoryBackend reads the key snapshot and the replay guard's state,
// after removing the temporary files an interrupted save left.
func openMemoryBackend(cfg *config.Config, log *slog.Logger) (*memoryBackend, error) {
	b := &memoryBackend{cfg: cfg, log: log}
	var key *fernet.Key
	if cfg.Keystore.PersistFile != "" {
		removeTemporaries(log, cfg.Keystore.PersistFile, keystore.GuardStatePath(cfg.Keystore.PersistFile))
		saved, err := loadKeys(cfg.Keystore)
		if err != nil {
			return nil, err
		}
		b.saved, key = saved, saved.key
	}
	guard, err := openMemoryGuard(cfg, key, log)
	if err != nil {
		return nil, err
	}
	b.guard = guard
	log.Info("replay guard", "max_memory", cfg.Replay.MaxMemory.String(),
		"covers_requests_per_second", int(replay.RateCovered(guard.MaxMemory(), cfg.NonceWindow)/2))
	b.store = keystore.NewMemory(keystore.MemoryOptions{TTL: cfg.Handshake.KeyTTL, MaxPerValidator: cfg.Handshake.MaxKeysPerValidator})
	return b, nil
}

func (b *memoryBackend) gauges(g *metrics.Gauges) {
	g.NonceBytes, g.NonceBudgetBytes = b.guard.MemoryBytes, b.guard.MaxMemory()
	g.NonceFloor = b.guard.Floor
}

// start restores the saved keys and starts the guard.
func (b *memoryBackend) start(m *metrics.Metrics) error {
	if b.saved != nil {
		p, err := b.saved.restore(b.cfg.Keystore, b.store, m, b.log)
		if err != nil {
			return err
		}
		b.persister = p
	}
	b.guard.start(m)
	b.started = true
	return nil
}

func (b *memoryBackend) keys() keystore.Store      { return b.store }
func (b *memoryBackend) nonces() proxy.ReplayGuard { return b.guard }

func (b *memoryBackend) run(ctx context.Context) {
	go b.store.Run(ctx, time.Minute)
	// Every 2 s: the horizon stays DefaultHorizonLead (5 s) ahead.
	go b.guard.Run(ctx, 2*time.Second)
	if b.persister != nil {
		go b.persister.Run(ctx)
	}
}

// ready refuses while the guard is before its floor: it cannot vouch for
// the nonces the last run may have accepted.
func (b *memoryBackend) ready(context.Context) error {
	now := time.Now()
	if floor := time.Unix(0, b.guard.Floor()); now.Before(floor) {
		return fmt.Errorf("the replay guard cannot vouch for nonces stamped before %s (it started without the last run's state) and refuses them for %s more",
			floor.UTC().Format(time.RFC3339Nano), floor.Sub(now).Round(time.Millisecond))
	}
	return nil
}

// save stops the guard and writes its state, then the key snapshot.
func (b *memoryBackend) save() []error {
	var errs []error
	if err := b.guard.save(); err != nil {
		b.log.Error("saving the replay guard", "err", err)
		errs = append(errs, fmt.Errorf("saving the replay guard: %w", err))
	}
	if b.persister != nil {
		if err := b.persister.Save(); err != nil {
			b.log.Error("saving the key snapshot", "err", err)
			errs = append(errs, fmt.Errorf("saving the key snapshot: %w", err))
		} else {
			b.log.Info("key snapshot saved", "keys", b.store.Len())
		}
	}
	return errs
}

// close saves the guard's full state if serve ends without save (a start
// that fails once the guard is started), as a clean stop does, so the
// next start costs nothing.
func (b *memoryBackend) close() {
	if b.started && !b.guard.saved {
		if err := b.guard.save(); err != nil {
			b.log.Error("saving the replay guard", "err", err)
		}
	}
}

// savedKeys is the key snapshot as read at start, with its storage key.
type savedKeys struct {
	key     *fernet.Key
	entries []*keystore.Entry
}

// loadKeys reads the key snapshot. A snapshot that exists but cannot be
// read is an error: starting empty would silently drop every validator's
// key.
func loadKeys(c config.Keystore) (*savedKeys, error) {
	key, err := storageKey(c)
	if err != nil {
		return nil, err
	}
	entries, err := keystore.LoadSnapshot(c.PersistFile, key, time.Now())
	if err != nil {
		return nil, fmt.Errorf("keystore.persist_file: %w", err)
	}
	return &savedKeys{key: key, entries: entries}, nil
}

// restore puts the snapshot's keys into store and returns the persister
// that keeps the snapshot up to date.
func (s *savedKeys) restore(c config.Keystore, store *keystore.Memory, m *metrics.Metrics, log *slog.Logger) (*keystore.Persister, error) {
	n, err := store.Restore(s.entries, time.Now())
	if err != nil {
		return nil, fmt.Errorf("keystore.persist_file: %w", err)
	}
	s.entries = nil
	log.Info("key snapshot loaded", "path", c.PersistFile, "keys", n)
	plog := log.With("component", "keystore")
	p, err := keystore.NewPersister(store, keystore.PersistOptions{
		Path:     c.PersistFile,
		Key:      s.key,
		Interval: c.PersistInterval,
		OnError: func(err error) {
			m.SnapshotSaved(time.Now(), err)
			plog.Error("saving the key snapshot", "err", err)
		},
		OnSaved: func(int) { m.SnapshotSaved(time.Now(), nil) },
	})
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	return p, nil
}

// removeTemporaries removes the temporary files a write of each path left
// when the process died before renaming them into place.
func removeTemporaries(log *slog.Logger, paths ...string) {
	for _, p := range paths {
		removed, err := keystore.RemoveTemporaries(p)
		for _, r := range removed {
			log.Info("removed a temporary file an interrupted save left", "path", r)
		}
		if err != nil {
			log.Warn("removing temporary files an interrupted save left", "path", p, "err", err)
		}
	}
}
