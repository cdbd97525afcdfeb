package headers

import (
	"fmt"
	"iter"
	"strings"
	"testing"
)

func TestIs(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{"X-Fiber-Validator-Hotkey", "x-fiber-validator-hotkey", true},
		{"x_FIBER_validator.hotkey", "x-fiber-validator-hotkey", true},
		{"X-Fiber-Validator-Hotke", "x-fiber-validator-hotkey", false},
		{"Connection", "connection", true},
	} {
		if got := Is([]byte(tc.name), tc.want); got != tc.ok {
			t.Errorf("Is(%q, %q) = %v, want %v", tc.name, tc.want, got, tc.ok)
		}
	}
	if !HasPrefix([]byte("X_Fiber_Anything"), "x-fiber-") || HasPrefix([]byte("X-Fib"), "x-fiber-") {
		t.Error("HasPrefix")
	}
}

func TestPlain(t *testing.T) {
	for name, want := range map[string]bool{"X-Kept": true, "x9": true, "X_Kept": false, "X.Kept": false, "": false, "X!": false} {
		if got := Plain([]byte(name)); got != want {
			t.Errorf("Plain(%q) = %v, want %v", name, got, want)
		}
	}
}

func seq(kv ...string) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		for i := 0; i+1 < len(kv); i += 2 {
			if !yield([]byte(kv[i]), []byte(kv[i+1])) {
				return
			}
		}
	}
}

// Every name a Connection header lists is found, however many, in any
// spelling; others are not.
func TestConnectionNames(t *testing.T) {
	for _, n := range []int{1, manyNames, manyNames + 1, 1000} {
		var names []string
		for i := range n {
			names = append(names, fmt.Sprintf("X-Conn-%d", i))
		}
		var c ConnectionNames
		c.Read(seq("Connection", strings.Join(names[:n/2], ", "), "Other", "x", "connection", strings.Join(names[n/2:], ",")))
		for _, name := range names {
			if !c.Has([]byte(strings.ToUpper(strings.ReplaceAll(name, "-", "_")))) {
				t.Fatalf("%d names: %s not found", n, name)
			}
		}
		if c.Has([]byte("X-Conn-x")) || c.Has([]byte("Other")) {
			t.Errorf("%d names: a name not listed is found", n)
		}
		c.Release()
		if c.Has([]byte(names[0])) {
			t.Errorf("%d names: found after Release", n)
		}
	}
}

func TestHopByHop(t *testing.T) {
	for _, k := range []string{"Connection", "keep_alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Proxy-Authorization"} {
		if !HopByHop([]byte(k)) {
			t.Errorf("%s: not hop-by-hop", k)
		}
	}
	if HopByHop([]byte("X-Kept")) {
		t.Error("X-Kept is hop-by-hop")
	}
}
