package proxy

import (
	"net/url"
	"testing"
)

func TestCleanPath(t *testing.T) {
	cases := []struct {
		raw, want string // want "" means refused
	}{
		{"/", "/"},
		{"/a/b", "/a/b"},
		{"/a/b/", "/a/b/"},
		{"/a//b///c", "/a/b/c"},
		{"//a", "/a"},
		{"/a/./b", "/a/b"},
		{"/a/../b", "/b"},
		{"/../../a", "/a"},
		{"/a/b/..", "/a/"},
		{"/a/b/.", "/a/b/"},
		{"/a/%2e%2E/b", "/b"},
		{"/a/.%2e/b", "/b"},
		{"/a/..b/c", "/a/..b/c"},
		{"/a/.../b", "/a/.../b"},
		{"/%69nternal/x", "/internal/x"},
		{"/a%3Bb", "/a;b"},
		{"/a;b", "/a;b"},
		{"/caf%C3%A9", "/café"},
		{"/100%25", "/100%"},
		{"/100%25x", "/100%x"},
		{"/a%20b", "/a b"},
		{"/a+b", "/a+b"},
		// Refused: no single meaning.
		{"/%2569nternal/x", ""},
		{"/%25%36%39", ""},
		{"/a%2Fb", ""},
		{"/a%2fb", ""},
		{"/a%3Fb", ""},
		{"/a%23b", ""},
		{"/a%5Cb", ""},
		{"/a\\b", ""},
		{"/a%00b", ""},
		{"/a%0Ab", ""},
		{"/a%7F", ""},
		{"/a\x01b", ""},
		{"/a%zz", ""},
		{"/a%", ""},
		{"/a%4", ""},
		{"a/b", ""},
		{"", ""},
		{"*", ""},
	}
	for _, c := range cases {
		got, ok := cleanPath(nil, []byte(c.raw))
		switch {
		case c.want == "" && ok:
			t.Errorf("cleanPath(%q) = %q, want refused", c.raw, got)
		case c.want != "" && !ok:
			t.Errorf("cleanPath(%q) refused, want %q", c.raw, c.want)
		case c.want != "" && string(got) != c.want:
			t.Errorf("cleanPath(%q) = %q, want %q", c.raw, got, c.want)
		}
		if !ok {
			continue
		}
		// What the app receives decodes, once, to what the routes saw,
		// and decoding it again changes nothing more than the first did.
		esc := string(escapePath(nil, got))
		dec, err := url.PathUnescape(esc)
		if err != nil || dec != string(got) {
			t.Errorf("escapePath(%q) = %q, which decodes to %q (%v)", got, esc, dec, err)
		}
		again, ok := cleanPath(nil, []byte(esc))
		if !ok || string(again) != string(got) {
			t.Errorf("the forwarded %q reads as %q (ok %v), want %q", esc, again, ok, got)
		}
	}
}

// FuzzCleanPath: whatever the path, an accepted one is forwarded in a form
// that decodes to exactly what the routes matched, has no dot segments or
// empty segments, and is stable under a second cleaning.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/a/../b", "/%2569", "/a%2Fb", "/caf%C3%A9", "//a/./b/", "/%25"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := cleanPath(nil, []byte(raw))
		if !ok {
			return
		}
		if got[0] != '/' {
			t.Fatalf("%q -> %q does not start with /", raw, got)
		}
		for _, seg := range []string{"//", "/./", "/../"} {
			if containsSeg(string(got), seg) {
				t.Fatalf("%q -> %q keeps %q", raw, got, seg)
			}
		}
		esc := escapePath(nil, got)
		for _, c := range esc {
			if c < 0x21 || c >= 0x7f || c == '?' || c == '#' || c == ';' || c == '\\' {
				t.Fatalf("%q -> forwarded %q holds %q", raw, esc, c)
			}
		}
		dec, err := url.PathUnescape(string(esc))
		if err != nil || dec != string(got) {
			t.Fatalf("%q -> %q forwarded as %q decodes to %q (%v)", raw, got, esc, dec, err)
		}
		again, ok := cleanPath(nil, esc)
		if !ok || string(again) != string(got) {
			t.Fatalf("%q -> %q, but its forwarded form %q reads as %q (ok %v)", raw, got, esc, again, ok)
		}
	})
}

func containsSeg(p, seg string) bool {
	for i := 0; i+len(seg) <= len(p); i++ {
		if p[i:i+len(seg)] == seg {
			return true
		}
	}
	return false
}

// BenchmarkCleanPath cleans and re-encodes paths as the forward path does,
// into reused buffers: a plain one, one with an escape in every segment,
// where the hex digits are read, and one refused for a bad escape.
func BenchmarkCleanPath(b *testing.B) {
	for _, bc := range []struct {
		name, raw string
		ok        bool
	}{
		{"plain", "/v1/chat/completions", true},
		{"escaped", "/v1/caf%C3%A9/%69tems/a%20b/100%25", true},
		{"bad_escape", "/v1/chat/%6g", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			raw := []byte(bc.raw)
			var clean, esc []byte
			b.ReportAllocs()
			for b.Loop() {
				var ok bool
				if clean, ok = cleanPath(clean, raw); ok != bc.ok {
					b.Fatalf("%q: ok %v, want %v", raw, ok, bc.ok)
				}
				if ok {
					esc = escapePath(esc[:0], clean)
				}
			}
		})
	}
}
