package keystore

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fibergate/fibergate/crypto/fernet"
)

// snapshotVersion is the format version written in every snapshot.
const snapshotVersion = 1

// snapshot is the JSON inside a snapshot's Fernet token.
type snapshot struct {
	Version int             `json:"version"`
	Entries []snapshotEntry `json:"entries"`
}

type snapshotEntry struct {
	Validator string    `json:"validator"` // 64 lowercase hex digits
	UUID      string    `json:"uuid"`
	Key       string    `json:"key"` // url-safe base64 of the 32 key bytes
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
}

// SaveSnapshot writes entries to path as a single Fernet token under
// storageKey, so no key is ever on disk in clear. The file is replaced
// atomically: the token goes to a temporary file (mode 0600) in the same
// directory, which is synced, renamed over path, and the directory synced;
// on any failure the previous file is left as it was.
func SaveSnapshot(path string, storageKey *fernet.Key, entries []*Entry) error {
	if storageKey == nil {
		return fmt.Errorf("saving key snapshot %q: no storage key", path)
	}
	snap := snapshot{Version: snapshotVersion, Entries: make([]snapshotEntry, 0, len(entries))}
	for _, e := range entries {
		if e == nil || e.Key == nil {
			continue
		}
		raw := e.Key.Raw()
		snap.Entries = append(snap.Entries, snapshotEntry{
			Validator: hex.EncodeToString(e.Validator[:]),
			UUID:      e.UUID,
			Key:       base64.URLEncoding.EncodeToString(raw[:]),
			Created:   e.Created.UTC(),
			Expires:   e.Expires.UTC(),
		})
	}
	plain, err := json.Marshal(&snap)
	if err != nil {
		return fmt.Errorf("saving key snapshot %q: encoding: %w", path, err)
	}
	token, err := storageKey.Seal(nil, plain)
	clear(plain) // the JSON holds every key in clear
	if err != nil {
		return fmt.Errorf("saving key snapshot %q: %w", path, err)
	}
	if err := writeAtomic(path, token, nil); err != nil {
		return fmt.Errorf("saving key snapshot %q: %w", path, err)
	}
	return nil
}

// writeAtomic replaces path with data through a synced temporary file in the
// same directory. beforeRename, when not nil, runs just before the rename
// and can fail the write (tests use it to fail at the last step).
func writeAtomic(path string, data []byte, beforeRename func(tmp string) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// CreateTemp already uses 0600; say so explicitly in case that changes.
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if beforeRename != nil {
		if err = beforeRename(tmp); err != nil {
			return err
		}
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// The rename is durable only once the directory is synced.
	d, err := os.Open(dir)
	if err != nil {
		return nil // the file is in place; only durability is in doubt
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %q: %w", dir, err)
	}
	return nil
}

// ErrSnapshotCorrupt is wrapped by LoadSnapshot's errors for a file that
// cannot be decrypted or does not hold a valid snapshot.
var ErrSnapshotCorrupt = errors.New("keystore: snapshot unreadable")

// LoadSnapshot reads the snapshot at path with storageKey and returns its
// entries not expired at now. A missing file is a first start: nil, nil. A
// file that is empty, truncated, corrupt, of another format version, or
// sealed under another key is an error naming the path and wrapping
// ErrSnapshotCorrupt, never an empty store.
func LoadSnapshot(path string, storageKey *fernet.Key, now time.Time) ([]*Entry, error) {
	if storageKey == nil {
		return nil, fmt.Errorf("loading key snapshot %q: no storage key", path)
	}
	token, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading key snapshot %q: %w", path, err)
	}
	plain, _, err := storageKey.Decrypt(nil, token)
	if err != nil {
		return nil, fmt.Errorf("loading key snapshot %q: %w: cannot decrypt (wrong storage key, or the file is truncated or corrupt)", path, ErrSnapshotCorrupt)
	}
	defer clear(plain)
	var snap snapshot
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&snap); err != nil {
		return nil, fmt.Errorf("loading key snapshot %q: %w: decoding: %v", path, ErrSnapshotCorrupt, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("loading key snapshot %q: %w: data after the snapshot", path, ErrSnapshotCorrupt)
	}
	if snap.Version != snapshotVersion {
		return nil, fmt.Errorf("loading key snapshot %q: %w: format version %d, want %d", path, ErrSnapshotCorrupt, snap.Version, snapshotVersion)
	}
	var out []*Entry
	for i, se := range snap.Entries {
		e, err := se.entry()
		if err != nil {
			return nil, fmt.Errorf("loading key snapshot %q: %w: entry %d: %v", path, ErrSnapshotCorrupt, i, err)
		}
		if now.Before(e.Expires) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (se *snapshotEntry) entry() (*Entry, error) {
	e := &Entry{UUID: se.UUID, Created: se.Created, Expires: se.Expires}
	if len(se.Validator) != 64 {
		return nil, fmt.Errorf("validator: want 64 hex digits, got %d characters", len(se.Validator))
	}
	if _, err := hex.Decode(e.Validator[:], []byte(se.Validator)); err != nil {
		return nil, fmt.Errorf("validator: %v", err)
	}
	k, err := fernet.ParseKey(se.Key)
	if err != nil {
		return nil, err
	}
	e.Key = k
	if err := checkEntry(e); err != nil {
		return nil, err
	}
	if e.Created.IsZero() || !e.Created.Before(e.Expires) {
		return nil, errors.New("expires must be after created")
	}
	return e, nil
}

// ErrNoStorageKey means a storage key source was not set or empty.
var ErrNoStorageKey = errors.New("keystore: no storage key")

// StorageKeyFromEnv reads the storage key from the environment variable
// name: the url-safe base64 of 32 bytes (standard alphabet accepted), with
// surrounding whitespace ignored. An unset or blank variable wraps
// ErrNoStorageKey; a malformed one wraps fernet.ErrInvalidKey. Errors never
// contain the value.
func StorageKeyFromEnv(name string) (*fernet.Key, error) {
	v, ok := os.LookupEnv(name)
	if !ok {
		return nil, fmt.Errorf("reading storage key from $%s: %w: the variable is not set", name, ErrNoStorageKey)
	}
	k, err := parseStorageKey(v)
	if err != nil {
		return nil, fmt.Errorf("reading storage key from $%s: %w", name, err)
	}
	return k, nil
}

// maxKeyFile bounds what StorageKeyFromFile reads: a key is 44 characters.
const maxKeyFile = 4096

// StorageKeyFromFile reads the storage key from the file at path, in the
// same form as StorageKeyFromEnv (a trailing newline is fine).
//
// The file may be readable by group and others: container runtimes mount
// secrets 0444 or 0644, and the boundary there is the container. It must not
// be writable by group or others, though: whoever can replace the key can
// have the next snapshot sealed under a key they know, so such a file is
// refused (chmod 600 fixes it).
func StorageKeyFromFile(path string) (*fernet.Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading storage key file %q: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading storage key file %q: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("reading storage key file %q: not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o022 != 0 {
		return nil, fmt.Errorf("reading storage key file %q: mode %04o lets group or others write it; chmod 600 it", path, perm)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading storage key file %q: %w", path, err)
	}
	defer clear(b)
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("reading storage key file %q: %w: over %d bytes, not a key", path, fernet.ErrInvalidKey, maxKeyFile)
	}
	k, err := parseStorageKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("reading storage key file %q: %w", path, err)
	}
	return k, nil
}

func parseStorageKey(s string) (*fernet.Key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%w: the value is empty", ErrNoStorageKey)
	}
	return fernet.ParseKey(s)
}

// GenerateStorageKey returns a new random storage key in its text form, for
// operators to put in the environment or a key file.
func GenerateStorageKey() string {
	var raw [fernet.KeySize]byte
	// crypto/rand.Read never fails (a broken source stops the program).
	_, _ = rand.Read(raw[:])
	return base64.URLEncoding.EncodeToString(raw[:])
}
