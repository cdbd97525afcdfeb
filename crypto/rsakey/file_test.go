package rsakey_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fibergate/fibergate/crypto/rsakey"
)

func TestWriteFileLoadFile(t *testing.T) {
	v := loadVectors(t)
	keys := vectorKeys(t, v)
	k, other := keys["rsa2048"], keys["rsa2048_other"]
	dir := t.TempDir()
	path := filepath.Join(dir, "miner.pem")

	if err := rsakey.WriteFile(path, k, rsakey.WriteOptions{}); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("file mode %o, want 600", mode)
	}
	b, _ := os.ReadFile(path)
	if want, _ := rsakey.MarshalPrivatePEM(k); string(b) != string(want) {
		t.Errorf("file holds\n%s\nwant the PKCS#8 PEM\n%s", b, want)
	}
	got, err := rsakey.LoadFile(path)
	if err != nil || !got.Equal(k) {
		t.Fatalf("LoadFile = %v; want the key written", err)
	}

	// No overwrite unless asked, and the old key stays whole.
	err = rsakey.WriteFile(path, other, rsakey.WriteOptions{})
	if !errors.Is(err, rsakey.ErrExists) {
		t.Errorf("WriteFile over an existing file = %v, want ErrExists", err)
	}
	if got, err := rsakey.LoadFile(path); err != nil || !got.Equal(k) {
		t.Errorf("after a refused overwrite the file holds another key (%v)", err)
	}
	if err := rsakey.WriteFile(path, other, rsakey.WriteOptions{Overwrite: true}); err != nil {
		t.Fatalf("WriteFile with Overwrite: %v", err)
	}
	if got, err := rsakey.LoadFile(path); err != nil || !got.Equal(other) {
		t.Errorf("after an overwrite LoadFile = %v; want the new key", err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("overwritten file mode %o, want 600", st.Mode().Perm())
	}

	// A dangling symlink counts as existing: do not write through it.
	link := filepath.Join(dir, "link.pem")
	if err := os.Symlink(filepath.Join(dir, "nowhere.pem"), link); err != nil {
		t.Fatal(err)
	}
	if err := rsakey.WriteFile(link, k, rsakey.WriteOptions{}); !errors.Is(err, rsakey.ErrExists) {
		t.Errorf("WriteFile over a dangling symlink = %v, want ErrExists", err)
	}

	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "link.pem miner.pem" {
		t.Errorf("directory holds %v; want only link.pem and miner.pem (no temporary files)", names)
	}
}

func TestWriteFileErrors(t *testing.T) {
	v := loadVectors(t)
	k := vectorKeys(t, v)["rsa2048"]
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-dir", "k.pem")
	if err := rsakey.WriteFile(missing, k, rsakey.WriteOptions{}); err == nil || !strings.Contains(err.Error(), `writing key file "`+missing+`"`) {
		t.Errorf("WriteFile into a missing directory = %v; want an error naming the file", err)
	}
	if err := rsakey.WriteFile(filepath.Join(dir, "k.pem"), nil, rsakey.WriteOptions{}); !errors.Is(err, rsakey.ErrInvalidKey) {
		t.Errorf("WriteFile(nil key) = %v, want ErrInvalidKey", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed writes left %d files behind", len(entries))
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	notKey := filepath.Join(dir, "not-key.pem")
	os.WriteFile(notKey, []byte("hello"), 0o600)
	huge := filepath.Join(dir, "huge.pem")
	os.WriteFile(huge, make([]byte, 1<<20+1), 0o600)
	tests := []struct {
		name string
		path string
		want error
	}{
		{"missing", filepath.Join(dir, "missing.pem"), fs.ErrNotExist},
		{"not a key", notKey, rsakey.ErrNoPEM},
		{"directory", dir, nil},
		{"too large", huge, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := rsakey.LoadFile(tt.path)
			if err == nil || k != nil {
				t.Fatalf("LoadFile(%s) = %v, nil; want an error", tt.path, k != nil)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("LoadFile(%s) = %v, want %v", tt.path, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), `reading key file "`+tt.path+`": `) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}
