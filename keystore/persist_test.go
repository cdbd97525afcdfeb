package keystore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewPersisterRejects(t *testing.T) {
	m, sk := NewMemory(MemoryOptions{}), storageKey(t)
	tests := []struct {
		name  string
		store *Memory
		opts  PersistOptions
	}{
		{"no store", nil, PersistOptions{Path: "x", Key: sk}},
		{"no path", m, PersistOptions{Key: sk}},
		{"no key", m, PersistOptions{Path: "x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := NewPersister(tc.store, tc.opts); err == nil {
				t.Errorf("NewPersister: got %v, nil; want an error", p)
			}
		})
	}
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestPersisterSavesOnlyChanges(t *testing.T) {
	m := NewMemory(MemoryOptions{TTL: time.Hour})
	sk := storageKey(t)
	path := filepath.Join(t.TempDir(), "keys.snap")
	var saves atomic.Int32
	var lastN atomic.Int32
	p, err := NewPersister(m, PersistOptions{
		Path: path, Key: sk, Interval: 5 * time.Millisecond,
		OnSaved: func(n int) { saves.Add(1); lastN.Store(int32(n)) },
		OnError: func(err error) { t.Errorf("OnError: %v", err) },
		Now:     func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); p.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	time.Sleep(50 * time.Millisecond) // ten intervals with nothing to save
	if n := saves.Load(); n != 0 {
		t.Fatalf("saved %d times with no change, want 0", n)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("snapshot written with no change: %v", err)
	}

	m.Put(entry(t, 1, "a"), t0)
	waitFor(t, "a save after Put", func() bool { return saves.Load() == 1 })
	time.Sleep(50 * time.Millisecond)
	if n := saves.Load(); n != 1 {
		t.Errorf("saved %d times after one change, want 1", n)
	}
	m.Put(entry(t, 2, "b"), t0)
	waitFor(t, "a save after the second Put", func() bool { return saves.Load() == 2 })
	if lastN.Load() != 2 {
		t.Errorf("OnSaved got %d entries, want 2", lastN.Load())
	}
	got, err := LoadSnapshot(path, sk, t0)
	if err != nil || len(got) != 2 {
		t.Errorf("LoadSnapshot: got %d entries, %v; want 2", len(got), err)
	}
}

func TestPersisterRetriesAfterFailure(t *testing.T) {
	m := NewMemory(MemoryOptions{TTL: time.Hour})
	sk := storageKey(t)
	dir := filepath.Join(t.TempDir(), "later")
	path := filepath.Join(dir, "keys.snap")
	var errs, saves atomic.Int32
	p, err := NewPersister(m, PersistOptions{
		Path: path, Key: sk, Interval: 5 * time.Millisecond,
		OnError: func(err error) { errs.Add(1) },
		OnSaved: func(int) { saves.Add(1) },
		Now:     func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); p.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	m.Put(entry(t, 1, "a"), t0)
	// The directory does not exist yet: every interval fails and retries.
	waitFor(t, "two failed saves", func() bool { return errs.Load() >= 2 })
	if saves.Load() != 0 {
		t.Fatal("OnSaved called although the directory is missing")
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a save once the directory exists", func() bool { return saves.Load() == 1 })
	if got, err := LoadSnapshot(path, sk, t0); err != nil || len(got) != 1 {
		t.Errorf("LoadSnapshot: got %d entries, %v; want 1", len(got), err)
	}
}

func TestPersisterSave(t *testing.T) {
	m := NewMemory(MemoryOptions{TTL: time.Hour})
	m.Put(entry(t, 1, "a"), t0)
	m.Put(entry(t, 2, "b"), t0.Add(-50*time.Minute))
	sk := storageKey(t)
	path := filepath.Join(t.TempDir(), "keys.snap")
	p, err := NewPersister(m, PersistOptions{Path: path, Key: sk, Now: func() time.Time { return t0.Add(20 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	// Save writes even with no change since NewPersister (shutdown).
	if err := p.Save(); err != nil {
		t.Fatal(err)
	}
	got, err := LoadSnapshot(path, sk, t0)
	if err != nil || len(got) != 1 || got[0].UUID != "a" {
		t.Fatalf("LoadSnapshot: got %v, %v; want only the unexpired entry", got, err)
	}

	bad, _ := NewPersister(m, PersistOptions{Path: filepath.Join(path, "not-a-dir", "x"), Key: sk})
	if err := bad.Save(); err == nil || errors.Is(err, nil) {
		t.Error("Save to an impossible path: got nil error")
	}
}
