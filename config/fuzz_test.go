package config

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse checks that no input panics, that every failure is an *Error
// with problems, that yaml's own strict decoder never refuses what the
// walker accepted, and that an accepted config survives Marshal and Parse.
func FuzzParse(f *testing.F) {
	if shipped, err := os.ReadFile("../config.yaml"); err == nil {
		f.Add(shipped)
	}
	f.Add(withBase())
	f.Add(withBase("upstream: {url: \"http://10.0.0.1\", timeout: 60}", "routes: [{path: /a/*, mode: public}, {path: /a/b}]"))
	f.Add(withBase("limits: {max_body: 10MiB, max_header: 1 KiB}", "x: &a {k: 1}", "log: *a"))
	f.Add(withBase("keystore: {backend: redis, redis: {addr: \"r:6379\", password_file: /pw, tls: true, prefix: \"x:\", pool_size: 3}}"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("listen: [x\n"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("routes: [~, {path: '*'}]\nvalidators: {static: [{hotkey: 1, stake: .inf}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml", nil)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("got error %v (%T), want an *Error with problems", err, err)
			}
			for _, p := range ce.Problems {
				if strings.HasPrefix(p.Msg, "strict decoding") {
					t.Fatalf("yaml's strict decoder refused what the walker accepted: %v", err)
				}
			}
			if c != nil {
				t.Fatalf("got a Config with an error")
			}
			return
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := Parse(out, "marshaled", nil)
		if err != nil {
			t.Fatalf("Parse(Marshal()): %v\n%s", err, out)
		}
		if diff := cmp.Diff(c, back, ignoreOrigins); diff != "" {
			t.Fatalf("round trip (-want +got)\n%s", diff)
		}
	})
}
