// Package testvectors locates and loads the cross-implementation test vectors
// kept under testdata/vectors, so every package's tests read the same files
// wherever `go test` runs them from.
package testvectors

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir returns the absolute path of the repository's testdata/vectors folder.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "vectors")
}

// SharedDir returns the path of the shared vectors folder beside the
// repository (../shared/vectors) and whether it exists.
func SharedDir() (string, bool) {
	dir := filepath.Join(Dir(), "..", "..", "..", "shared", "vectors")
	st, err := os.Stat(dir)
	return dir, err == nil && st.IsDir()
}

// Load decodes the vector file name (relative to Dir) into v, failing t on error.
func Load(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(), name))
	if err != nil {
		t.Fatalf("reading vectors: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding vectors %s: %v", name, err)
	}
}
