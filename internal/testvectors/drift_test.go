package testvectors

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestCopiesMatchShared keeps testdata/vectors byte-identical to
// ../shared/vectors whenever the shared folder is present (it is in CI).
func TestCopiesMatchShared(t *testing.T) {
	shared, ok := SharedDir()
	if !ok {
		t.Skip("no ../shared/vectors beside the repository; nothing to compare")
	}
	local := Dir()
	seen := map[string]bool{}
	err := filepath.WalkDir(shared, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(shared, p)
		seen[rel] = true
		want, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		got, err := os.ReadFile(filepath.Join(local, rel))
		if err != nil {
			t.Errorf("%s: missing from testdata/vectors: copy it from %s", rel, shared)
			return nil
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: testdata/vectors copy differs from %s: copy it again", rel, shared)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", shared, err)
	}
	_ = filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(local, p)
		if !seen[rel] {
			t.Errorf("%s: in testdata/vectors but not in %s: remove it", rel, shared)
		}
		return nil
	})
	if len(seen) == 0 {
		t.Fatalf("%s holds no vector files", shared)
	}
}
