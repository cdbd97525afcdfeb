package keystore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestGuardStateRoundTrip(t *testing.T) {
	sk := storageKey(t)
	dir := t.TempDir()
	path := GuardStatePath(filepath.Join(dir, "keys.snap"))
	if got, err := LoadGuardState(path, sk); got != nil || err != nil {
		t.Fatalf("missing file: got %q, %v; want nil, nil", got, err)
	}
	state := bytes.Repeat([]byte("state\x00"), 1000)
	if err := SaveGuardState(path, sk, state); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("state")) {
		t.Error("the state is on disk in clear")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", st.Mode().Perm())
	}
	got, err := LoadGuardState(path, sk)
	if err != nil || !bytes.Equal(got, state) {
		t.Fatalf("loaded %d bytes, %v; want the %d saved", len(got), err, len(state))
	}
	if _, err := LoadGuardState(path, storageKey(t)); !errors.Is(err, ErrSnapshotCorrupt) {
		t.Errorf("another storage key: got %v, want ErrSnapshotCorrupt", err)
	}
	os.WriteFile(path, raw[:len(raw)/2], 0o600)
	if _, err := LoadGuardState(path, sk); !errors.Is(err, ErrSnapshotCorrupt) {
		t.Errorf("a cut file: got %v, want ErrSnapshotCorrupt", err)
	}
}

// TestRemoveTemporaries: the temporaries a killed write leaves are removed,
// and nothing else in the directory is touched.
func TestRemoveTemporaries(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys[1].snap")
	write := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stale := []string{write(".keys[1].snap.tmp-123"), write(".keys[1].snap.tmp-abc")}
	keep := []string{
		write("keys[1].snap"), write(".keys[1].snap.replay.tmp-9"), write(".other.snap.tmp-1"),
		write("keys1.snap.tmp-1"), write(".keys1.snap.tmp-1"),
	}
	if err := os.Mkdir(filepath.Join(dir, ".keys[1].snap.tmp-dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	removed, err := RemoveTemporaries(path)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if !slices.Equal(removed, stale) {
		t.Errorf("removed %q, want %q", removed, stale)
	}
	for _, p := range keep {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v, want it kept", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".keys[1].snap.tmp-dir")); err != nil {
		t.Error("a directory was removed")
	}
	// The real writer's temporary, as a kill before its rename would leave
	// it (kept here by a hard link), is of that shape.
	boom := errors.New("killed")
	var left string
	err = writeAtomic(path, []byte("data"), func(tmp string) error {
		left = tmp + "-left"
		if err := os.Link(tmp, left); err != nil {
			t.Fatal(err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if removed, _ := RemoveTemporaries(path); !slices.Equal(removed, []string{left}) {
		t.Errorf("after a write killed before its rename: removed %q, want %q", removed, left)
	}
}
