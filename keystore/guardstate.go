package keystore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/fibergate/fibergate/crypto/fernet"
)

// GuardStateSuffix names the replay guard's state file beside the key
// snapshot: persist_file plus this suffix.
const GuardStateSuffix = ".replay"

// GuardStatePath returns where the replay guard's state is kept for the key
// snapshot at persistFile.
func GuardStatePath(persistFile string) string { return persistFile + GuardStateSuffix }

// SaveGuardState writes a replay guard's state (replay.Memory's Snapshot or
// replay.HorizonState) to path as one Fernet token under storageKey,
// replaced atomically as the key snapshot is: the state holds the guard's
// hashing key, which must not sit on disk in clear.
func SaveGuardState(path string, storageKey *fernet.Key, state []byte) error {
	if storageKey == nil {
		return fmt.Errorf("saving replay guard state %q: no storage key", path)
	}
	token, err := storageKey.Seal(nil, state)
	if err != nil {
		return fmt.Errorf("saving replay guard state %q: %w", path, err)
	}
	if err := writeAtomic(path, token, nil); err != nil {
		return fmt.Errorf("saving replay guard state %q: %w", path, err)
	}
	return nil
}

// LoadGuardState reads the state SaveGuardState wrote to path. A missing
// file is nil, nil. A file that cannot be decrypted under storageKey is an
// error wrapping ErrSnapshotCorrupt.
func LoadGuardState(path string, storageKey *fernet.Key) ([]byte, error) {
	if storageKey == nil {
		return nil, fmt.Errorf("loading replay guard state %q: no storage key", path)
	}
	token, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading replay guard state %q: %w", path, err)
	}
	plain, _, err := storageKey.Decrypt(nil, token)
	if err != nil {
		return nil, fmt.Errorf("loading replay guard state %q: %w: cannot decrypt (wrong storage key, or the file is truncated or corrupt)", path, ErrSnapshotCorrupt)
	}
	return plain, nil
}

// RemoveTemporaries removes the temporary files that a write of path
// (SaveSnapshot, SaveGuardState) left behind when the process died before
// renaming them into place, and returns the names removed. Call it at start,
// before anything writes path: a write in progress would lose its file.
func RemoveTemporaries(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	matches, err := filepath.Glob(filepath.Join(dir, "."+escapeGlob(base)+".tmp-*"))
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, m := range matches {
		fi, err := os.Lstat(m)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if err := os.Remove(m); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, m)
	}
	return removed, errors.Join(errs...)
}

// escapeGlob quotes the characters filepath.Match treats as special.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
