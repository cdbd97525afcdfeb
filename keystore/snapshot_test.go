package keystore

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/fernet"
)

func storageKey(t testing.TB) *fernet.Key {
	t.Helper()
	k, err := fernet.ParseKey(GenerateStorageKey())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func fillStore(t *testing.T) *Memory {
	t.Helper()
	m := NewMemory(MemoryOptions{TTL: time.Hour})
	for i := range 5 {
		for _, u := range []string{"a", "b"} {
			if err := m.Put(entry(t, i, u), t0.Add(time.Duration(i)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return m
}

func TestSnapshotRoundTrip(t *testing.T) {
	m := fillStore(t)
	sk := storageKey(t)
	path := filepath.Join(t.TempDir(), "keys.snap")
	want := m.Entries(t0)
	if err := SaveSnapshot(path, sk, want); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("snapshot mode: got %04o, want 0600", st.Mode().Perm())
	}
	got, err := LoadSnapshot(path, sk, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("loaded %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.Validator != w.Validator || g.UUID != w.UUID || !g.Created.Equal(w.Created) || !g.Expires.Equal(w.Expires) {
			t.Errorf("entry %d: got %x/%s %v-%v, want %x/%s %v-%v", i, g.Validator[:4], g.UUID, g.Created, g.Expires, w.Validator[:4], w.UUID, w.Created, w.Expires)
		}
		// The loaded key must open what the original sealed, and back.
		var iv [16]byte
		tok := w.Key.Encrypt(nil, []byte("body"), 1, &iv)
		if pt, _, err := g.Key.Decrypt(nil, tok); err != nil || string(pt) != "body" {
			t.Errorf("entry %d: loaded key got %q, %v on a token of the original", i, pt, err)
		}
		tok = g.Key.Encrypt(nil, []byte("back"), 1, &iv)
		if pt, _, err := w.Key.Decrypt(nil, tok); err != nil || string(pt) != "back" {
			t.Errorf("entry %d: original key got %q, %v on a token of the loaded one", i, pt, err)
		}
	}
	r := NewMemory(MemoryOptions{TTL: time.Hour})
	if n, err := r.Restore(got, t0); n != len(want) || err != nil {
		t.Errorf("Restore of loaded entries: got %d, %v; want %d, nil", n, err, len(want))
	}
}

func TestSnapshotDropsExpired(t *testing.T) {
	m := fillStore(t) // validator i's keys expire at t0 + i min + 1h
	sk := storageKey(t)
	path := filepath.Join(t.TempDir(), "keys.snap")
	if err := SaveSnapshot(path, sk, m.Entries(t0)); err != nil {
		t.Fatal(err)
	}
	got, err := LoadSnapshot(path, sk, t0.Add(time.Hour+2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Errorf("loaded %d entries, want 4 (validators 3 and 4 only)", len(got))
	}
	for _, e := range got {
		if e.Validator != validator(3) && e.Validator != validator(4) {
			t.Errorf("loaded an entry of an expired validator %x", e.Validator[:4])
		}
	}
}

func TestLoadSnapshotMissing(t *testing.T) {
	got, err := LoadSnapshot(filepath.Join(t.TempDir(), "none"), storageKey(t), t0)
	if got != nil || err != nil {
		t.Errorf("missing file: got %v, %v; want nil, nil", got, err)
	}
}

func TestLoadSnapshotBad(t *testing.T) {
	sk := storageKey(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := SaveSnapshot(good, sk, fillStore(t).Entries(t0)); err != nil {
		t.Fatal(err)
	}
	token, _ := os.ReadFile(good)
	seal := func(json string) []byte {
		tok, err := sk.Seal(nil, []byte(json))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	v1 := validator(1)
	okEntry := `{"validator":"` + hex.EncodeToString(v1[:]) + `","uuid":"u","key":"` + GenerateStorageKey() +
		`","created":"2026-01-02T03:04:05Z","expires":"2026-01-02T04:04:05Z"}`
	if _, err := os.Stat(good); err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(token)
	flipped[len(flipped)/2] ^= 1

	tests := []struct {
		name string
		data []byte
		key  *fernet.Key
	}{
		{"empty file", nil, sk},
		{"truncated", token[:len(token)/2], sk},
		{"one bit flipped", flipped, sk},
		{"trailing newline", append(bytes.Clone(token), '\n'), sk},
		{"wrong storage key", token, storageKey(t)},
		{"plaintext json", []byte(`{"version":1,"entries":[]}`), sk},
		{"not json", seal("not json"), sk},
		{"wrong version", seal(`{"version":2,"entries":[]}`), sk},
		{"no version", seal(`{"entries":[]}`), sk},
		{"unknown field", seal(`{"version":1,"entries":[],"extra":1}`), sk},
		{"trailing json", seal(`{"version":1,"entries":[]} {}`), sk},
		{"bad validator hex", seal(`{"version":1,"entries":[` + strings.Replace(okEntry, `"validator":"`, `"validator":"zz`, 1) + `]}`), sk},
		{"short validator", seal(`{"version":1,"entries":[{"validator":"00","uuid":"u","key":"` + GenerateStorageKey() + `","created":"2026-01-02T03:04:05Z","expires":"2026-01-02T04:04:05Z"}]}`), sk},
		{"bad key", seal(`{"version":1,"entries":[` + strings.Replace(okEntry, `"key":"`, `"key":"x`, 1) + `]}`), sk},
		{"empty uuid", seal(`{"version":1,"entries":[` + strings.Replace(okEntry, `"uuid":"u"`, `"uuid":""`, 1) + `]}`), sk},
		{"expires before created", seal(`{"version":1,"entries":[` + strings.Replace(okEntry, "04:04:05Z", "02:04:05Z", 1) + `]}`), sk},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadSnapshot(path, tc.key, t0)
			if err == nil {
				t.Fatalf("LoadSnapshot: got %d entries, nil; want an error", len(got))
			}
			if !errors.Is(err, ErrSnapshotCorrupt) {
				t.Errorf("LoadSnapshot: got %v, want ErrSnapshotCorrupt", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("LoadSnapshot error %q does not name the path", err)
			}
		})
	}
	// The control: the okEntry template itself loads.
	path := filepath.Join(dir, "control")
	os.WriteFile(path, seal(`{"version":1,"entries":[`+okEntry+`]}`), 0o600)
	if got, err := LoadSnapshot(path, sk, t0); err != nil || len(got) != 1 {
		t.Errorf("control snapshot: got %d entries, %v; want 1, nil", len(got), err)
	}
}

func TestSnapshotHoldsNoKeyInClear(t *testing.T) {
	m := fillStore(t)
	path := filepath.Join(t.TempDir(), "keys.snap")
	entries := m.Entries(t0)
	if err := SaveSnapshot(path, storageKey(t), entries); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		raw := e.Key.Raw()
		for name, form := range map[string][]byte{
			"raw bytes":       raw[:],
			"url-safe b64":    []byte(base64.URLEncoding.EncodeToString(raw[:])),
			"std b64":         []byte(base64.StdEncoding.EncodeToString(raw[:])),
			"unpadded b64":    []byte(base64.RawURLEncoding.EncodeToString(raw[:])),
			"hex":             []byte(hex.EncodeToString(raw[:])),
			"signing half":    raw[:16],
			"encrypting half": raw[16:],
		} {
			if bytes.Contains(data, form) {
				t.Errorf("snapshot holds a key's %s in clear", name)
			}
		}
		if bytes.Contains(data, []byte(hex.EncodeToString(e.Validator[:]))) {
			t.Errorf("snapshot holds a validator key in clear")
		}
	}
}

func TestSaveSnapshotKeepsOldFileOnFailure(t *testing.T) {
	sk := storageKey(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.snap")
	if err := SaveSnapshot(path, sk, fillStore(t).Entries(t0)); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(path)

	t.Run("failure before rename", func(t *testing.T) {
		boom := errors.New("injected")
		err := writeAtomic(path, []byte("new contents"), func(string) error { return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("writeAtomic: got %v, want the injected error", err)
		}
		assertUnchanged(t, path, old)
	})
	t.Run("read-only directory", func(t *testing.T) {
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(dir, 0o700)
		if probe, err := os.Create(filepath.Join(dir, "probe")); err == nil {
			probe.Close()
			os.Remove(probe.Name())
			t.Skip("running with privileges that ignore directory permissions")
		}
		err := SaveSnapshot(path, sk, nil)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("SaveSnapshot into a read-only directory: got %v, want an error naming the path", err)
		}
		assertUnchanged(t, path, old)
	})
	t.Run("missing directory", func(t *testing.T) {
		if err := SaveSnapshot(filepath.Join(dir, "nope", "keys.snap"), sk, nil); err == nil {
			t.Fatal("SaveSnapshot into a missing directory: got nil error")
		}
	})
	t.Run("nil storage key", func(t *testing.T) {
		if err := SaveSnapshot(path, nil, nil); err == nil {
			t.Fatal("SaveSnapshot without a key: got nil error")
		}
		assertUnchanged(t, path, old)
	})
}

func assertUnchanged(t *testing.T, path string, old []byte) {
	t.Helper()
	now, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(now, old) {
		t.Errorf("snapshot changed after a failed save (err %v)", err)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestStorageKeyFromEnv(t *testing.T) {
	key := GenerateStorageKey()
	tests := []struct {
		name  string
		value *string
		want  error
	}{
		{"unset", nil, ErrNoStorageKey},
		{"empty", ptr(""), ErrNoStorageKey},
		{"blank", ptr(" \n\t"), ErrNoStorageKey},
		{"short", ptr(key[:20]), fernet.ErrInvalidKey},
		{"long", ptr(key + "AAAA"), fernet.ErrInvalidKey},
		{"not base64", ptr(strings.Repeat("!", 44)), fernet.ErrInvalidKey},
		{"ok", ptr(key), nil},
		{"ok with whitespace", ptr("  " + key + "\n"), nil},
	}
	const name = "FIBERGATE_TEST_STORAGE_KEY"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.value == nil {
				t.Setenv(name, "")
				os.Unsetenv(name)
			} else {
				t.Setenv(name, *tc.value)
			}
			k, err := StorageKeyFromEnv(name)
			if !errors.Is(err, tc.want) {
				t.Fatalf("StorageKeyFromEnv: got %v, want %v", err, tc.want)
			}
			if err == nil && k.String() != key {
				t.Errorf("got key %s, want %s", k, key)
			}
			if err != nil && (strings.Contains(err.Error(), key[:20]) || !strings.Contains(err.Error(), name)) {
				t.Errorf("error %q leaks the value or does not name the variable", err)
			}
		})
	}
}

func TestStorageKeyFromFile(t *testing.T) {
	key := GenerateStorageKey()
	dir := t.TempDir()
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		ok      bool
	}{
		{"ok", key, 0o600, true},
		{"trailing newline", key + "\n", 0o600, true},
		{"crlf and spaces", "  " + key + "\r\n", 0o400, true},
		{"world readable", key, 0o644, true},
		{"group writable", key, 0o660, false},
		{"world writable", key, 0o606, false},
		{"empty", "", 0o600, false},
		{"blank", "\n\n", 0o600, false},
		{"wrong length", key[:43], 0o600, false},
		{"two keys", key + "\n" + key, 0o600, false},
		{"huge", strings.Repeat("A", maxKeyFile+1), 0o600, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			k, err := StorageKeyFromFile(path)
			if tc.ok {
				if err != nil || k.String() != key {
					t.Fatalf("StorageKeyFromFile: got %v, %v; want the key", k, err)
				}
				return
			}
			if err == nil {
				t.Fatal("StorageKeyFromFile: got a key, want an error")
			}
			if !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), key[:20]) {
				t.Errorf("error %q does not name the path or leaks the key", err)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		if _, err := StorageKeyFromFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("got %v, want ErrNotExist", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		if _, err := StorageKeyFromFile(dir); err == nil {
			t.Error("got a key from a directory")
		}
	})
}

func TestGenerateStorageKey(t *testing.T) {
	a, b := GenerateStorageKey(), GenerateStorageKey()
	if a == b {
		t.Error("two generated keys are equal")
	}
	k, err := fernet.ParseKey(a)
	if err != nil || k.String() != a {
		t.Errorf("generated key %q does not parse back: %v", a, err)
	}
}

func ptr(s string) *string { return &s }
