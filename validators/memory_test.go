package validators

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/nodes"
)

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// A large nodes file costs about its own size to load, not the several
// copies a growing buffer and a decoder buffering each value would make:
// one of many fat entries, and one with a single huge field. (SOAK.md has
// the process's peak memory with files at the 64 MiB cap.)
func TestLargeNodesFileMemory(t *testing.T) {
	const size = 8 << 20
	dir := t.TempDir()
	var many strings.Builder
	many.WriteString("{")
	pad := strings.Repeat("p", 900)
	n := 0
	for many.Len() < size {
		var k [32]byte
		rand.Read(k[:])
		hk := ss58.Encode(k, 42)
		if n > 0 {
			many.WriteString(",")
		}
		fmt.Fprintf(&many, `%q: {"hotkey": %q, "stake": %d.5, "netuid": 1, "ip": "1.2.3.4", "pad": %q}`, hk, hk, 1000+n, pad)
		n++
	}
	many.WriteString("}")
	var k [32]byte
	rand.Read(k[:])
	hk := ss58.Encode(k, 42)
	big := fmt.Sprintf(`[{"hotkey": %q, "stake": 1, "ip": %q}]`, hk, strings.Repeat("a", size))
	for name, content := range map[string]string{"many entries": many.String(), "one huge field": big} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		var vals []Validator
		var err error
		got := allocated(func() {
			var data []byte
			if data, err = nodes.ReadFile(path); err == nil {
				vals, err = parseNodes(data, SourceNodesFile)
			}
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// The file's bytes, plus what the validators themselves take
		// (about 450 bytes each: the record read, the list, the key and a map entry).
		limit := uint64(len(content)) + uint64(len(vals))*450 + 1<<20
		t.Logf("%s: %d bytes, %d validators: %.2f MB allocated (%.2f times the file)", name, len(content), len(vals), float64(got)/1e6, float64(got)/float64(len(content)))
		if got > limit {
			t.Errorf("%s: loading a %d-byte file allocated %d bytes, want at most %d", name, len(content), got, limit)
		}
	}
}
