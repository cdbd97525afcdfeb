//go:build unix

package conformance_test

import (
	"net/http"
	"testing"
)

// pathCase is one request target a validator sends and what must come of
// it. Accepted targets (status 200) reach the app's echo, which reports
// the target its server got.
//
// httputil.ReverseProxy differs on purpose in every accepted case that is
// not already canonical: it forwards the raw path as received (joined to
// the target's), so the app decodes, and routes by, whatever spelling the
// client chose, while the proxy's own checks saw another. fibergate
// decodes once, matches routes on that, and hands the app one spelling of
// the same path, refusing paths that have no single meaning.
type pathCase struct {
	name   string
	target string // the request target, on the wire exactly so
	status int    // 200: forwarded to the app's echo
	code   string // the error code when status is not 200
	raw    string // status 200: the path the app must get
	path   string // status 200: the decoded path routes matched on
	query  string // status 200: the query string the app must get
}

func ok(name, target, raw, path string) pathCase {
	return pathCase{name: name, target: target, status: 200, raw: raw, path: path}
}

func badPath(name, target string) pathCase {
	return pathCase{name: name, target: target, status: 400, code: "bad_path"}
}

func malformed(name, target string) pathCase {
	return pathCase{name: name, target: target, status: 400, code: "bad_request"}
}

func denied(name, target string) pathCase {
	return pathCase{name: name, target: target, status: 404, code: "not_found"}
}

// guarded is a path that lands on an encrypted or signed route: with no
// Fiber headers it must be refused by that route's checks.
func guarded(name, target string) pathCase {
	return pathCase{name: name, target: target, status: 422, code: "missing_header"}
}

var pathCases = []pathCase{
	// Accepted, and re-encoded for the app: every byte outside
	// A-Za-z0-9 - . _ ~ ! $ & ' ( ) * , = : @ / as %XX, upper-case hex.
	ok("plain", "/v1/echo", "/v1/echo", "/v1/echo"),
	ok("encoded-semicolon", "/v1/a%3Bb", "/v1/a%3Bb", "/v1/a;b"),
	ok("raw-semicolon", "/v1/a;b", "/v1/a%3Bb", "/v1/a;b"),
	ok("lower-case-hex", "/v1/a%3bb", "/v1/a%3Bb", "/v1/a;b"),
	ok("raw-plus", "/v1/a+b", "/v1/a%2Bb", "/v1/a+b"),
	ok("encoded-plus", "/v1/a%2Bb", "/v1/a%2Bb", "/v1/a+b"),
	ok("encoded-space", "/v1/a%20b", "/v1/a%20b", "/v1/a b"),
	ok("encoded-unreserved", "/v1/%41%62c%7E", "/v1/Abc~", "/v1/Abc~"),
	ok("sub-delims", "/v1/!$&'()*,=:@", "/v1/!$&'()*,=:@", "/v1/!$&'()*,=:@"),
	ok("encoded-colon", "/v1/a%3ab", "/v1/a:b", "/v1/a:b"),
	ok("encoded-utf8", "/v1/caf%C3%A9", "/v1/caf%C3%A9", "/v1/café"),
	ok("encoded-utf8-lower-hex", "/v1/caf%c3%a9", "/v1/caf%C3%A9", "/v1/café"),
	ok("raw-utf8", "/v1/café", "/v1/caf%C3%A9", "/v1/café"),
	ok("encoded-percent", "/v1/100%25", "/v1/100%25", "/v1/100%"),
	ok("encoded-percent-not-hex", "/v1/%25zz", "/v1/%25zz", "/v1/%zz"),
	ok("encoded-percent-one-hex", "/v1/%25a", "/v1/%25a", "/v1/%a"),
	ok("slash-runs", "/v1//a///b", "/v1/a/b", "/v1/a/b"),
	ok("dot-segments", "/v1/./a/./b", "/v1/a/b", "/v1/a/b"),
	ok("dot-dot", "/v1/a/../b", "/v1/b", "/v1/b"),
	ok("encoded-dot", "/v1/%2e/a", "/v1/a", "/v1/a"),
	ok("trailing-dot-dot", "/v1/a/..", "/v1/", "/v1/"),
	ok("trailing-dot", "/v1/a/.", "/v1/a/", "/v1/a/"),
	ok("above-root", "/../../v1/x", "/v1/x", "/v1/x"),
	ok("out-of-deny", "/internal/../v1/x", "/v1/x", "/v1/x"),
	ok("out-of-encrypted", "/enc/../v1/x", "/v1/x", "/v1/x"),
	ok("dots-in-names", "/v1/a..b/.../c.", "/v1/a..b/.../c.", "/v1/a..b/.../c."),
	ok("encoded-dots-in-name", "/v1/a%2e%2E", "/v1/a..", "/v1/a.."),
	ok("default-route", "/other/x", "/other/x", "/other/x"),
	ok("root-dot-dot", "/..", "/", "/"),
	{name: "query-as-received", target: "/v1/echo?q=a%2Fb&x=%zz&y=a+b&z=%00&w=/../", status: 200,
		raw: "/v1/echo", path: "/v1/echo", query: "q=a%2Fb&x=%zz&y=a+b&z=%00&w=/../"},
	{name: "fragment-dropped", target: "/v1/echo?a=1#frag", status: 200, raw: "/v1/echo", path: "/v1/echo", query: "a=1"},
	{name: "fragment-in-path-dropped", target: "/v1/echo#frag", status: 200, raw: "/v1/echo", path: "/v1/echo"},

	// No single meaning: refused, the app never asked.
	badPath("invalid-escape", "/v1/%zz"),
	badPath("invalid-escape-second-digit", "/v1/%4g"),
	badPath("trailing-percent", "/v1/a%"),
	badPath("truncated-escape", "/v1/a%4"),
	badPath("encoded-nul", "/v1/%00"),
	badPath("encoded-lf", "/v1/%0a"),
	badPath("encoded-cr", "/v1/%0D"),
	badPath("encoded-tab", "/v1/%09"),
	badPath("encoded-unit-separator", "/v1/%1f"),
	badPath("encoded-del", "/v1/%7F"),
	// A raw control byte makes the request line itself malformed (RFC 9112
	// section 3.2): the HTTP parser refuses it before any path rule runs.
	malformed("raw-nul", "/v1/a\x00b"),
	malformed("raw-soh", "/v1/a\x01b"),
	malformed("raw-del", "/v1/a\x7fb"),
	badPath("encoded-slash", "/v1/a%2Fb"),
	badPath("encoded-slash-lower", "/v1/a%2fb"),
	badPath("encoded-slash-dot-dot", "/v1/%2F..%2Finternal/x"),
	badPath("encoded-question-mark", "/v1/a%3Fb"),
	badPath("encoded-hash", "/v1/a%23b"),
	badPath("raw-backslash", "/v1/a\\b"),
	badPath("encoded-backslash", "/v1/a%5Cb"),
	badPath("encoded-backslash-lower", "/v1/a%5cb"),
	badPath("backslash-dot-dot", "/v1/..%5C..%5Cinternal/x"),
	badPath("double-encoded-deny", "/%2569nternal/x"),
	badPath("double-encoded", "/v1/%2569"),
	badPath("double-encoded-each-byte", "/v1/%25%36%39"),
	badPath("double-encoded-slash", "/v1/a%252Fb"),
	badPath("double-encoded-percent", "/v1/%2525"),

	// Routes see the decoded, resolved path.
	denied("deny", "/internal/x"),
	denied("dot-dot-into-deny", "/v1/../internal/x"),
	denied("encoded-dot-dot-into-deny", "/v1/%2e%2e/internal/x"),
	denied("mixed-case-encoded-dot-dot-into-deny", "/v1/%2E%2e/internal/x"),
	denied("encoded-letter-deny", "/%69nternal/x"),
	denied("slash-run-deny", "//internal/x"),
	denied("dot-then-dot-dot-into-deny", "/v1/./../internal/x"),
	denied("dot-inside-deny", "/internal/./x"),
	denied("encoded-tail-deny", "/x/../internal/%78"),
	guarded("encrypted-exact", "/v1/generate"),
	guarded("encoded-letter-encrypted-exact", "/v1/%67enerate"),
	guarded("slash-run-encrypted-exact", "/v1//generate"),
	guarded("dot-dot-encrypted-exact", "/v1/x/../generate"),
	guarded("encrypted-prefix", "/enc/x"),
	guarded("dot-dot-into-encrypted", "/v1/../enc/x"),
	guarded("encoded-dot-dot-into-encrypted", "/v1/%2e%2e/enc/x"),
	guarded("signed-prefix", "/signed/x"),
}

// TestPaths sends each target on a public request and checks what the
// validator got and, when it was forwarded, what the app got.
func TestPaths(t *testing.T) {
	for _, c := range pathCases {
		if c.status == 200 {
			if got := canonicalPath(c.path); got != c.raw {
				t.Fatalf("table: %s: canonical form of %q is %q, table says %q", c.name, c.path, got, c.raw)
			}
		}
	}
	eachApp(t, fgOptions{}, func(t *testing.T, e *env) {
		for _, c := range pathCases {
			t.Run(c.name, func(t *testing.T) {
				defer e.checkAlive(t)
				before := e.count(t)
				x := roundTrip(t, e.fg.addr, rawRequest("GET", c.target, nil, nil), "GET")
				if c.status != 200 {
					wantError(t, x, c.status, c.code)
					if n := e.count(t); n != before {
						t.Errorf("the app was asked %d time(s); want never", n-before)
					}
					return
				}
				if x.err != nil || x.resp.StatusCode != http.StatusOK {
					t.Fatalf("want the app's echo: %s", x.describe())
				}
				wantForwardedPath(t, decodeEcho(t, x.body), c)
			})
		}
		// Verified requests take the same path rule: the route's checks
		// pass and the app gets the canonical path.
		t.Run("encrypted-encoded-letter", func(t *testing.T) {
			defer e.checkAlive(t)
			x := roundTrip(t, e.fg.addr, e.encRequest(t, "POST", "/v1/%67enerate", []byte(`{"q":1}`)), "POST")
			got := decodeEcho(t, wantSealed(t, e, x))
			wantForwardedPath(t, got, pathCase{raw: "/v1/generate", path: "/v1/generate"})
		})
		t.Run("encrypted-re-encoded", func(t *testing.T) {
			defer e.checkAlive(t)
			x := roundTrip(t, e.fg.addr, e.encRequest(t, "POST", "/enc/./x/../a;b%2b?k=v", []byte(`{"q":1}`)), "POST")
			got := decodeEcho(t, wantSealed(t, e, x))
			wantForwardedPath(t, got, pathCase{raw: "/enc/a%3Bb%2B", path: "/enc/a;b+", query: "k=v"})
		})
		t.Run("signed-re-encoded", func(t *testing.T) {
			defer e.checkAlive(t)
			body := []byte(`{"q":1}`)
			x := roundTrip(t, e.fg.addr, e.signedRequest(t, "POST", "/signed//x/%2e%2E/a%20b", body), "POST")
			if x.err != nil || x.resp.StatusCode != http.StatusOK {
				t.Fatalf("want the app's echo: %s", x.describe())
			}
			wantForwardedPath(t, decodeEcho(t, x.body), pathCase{raw: "/signed/a%20b", path: "/signed/a b"})
		})
	})
}

// wantForwardedPath checks the target an app got against c: the exact
// canonical spelling, which decodes to the path routes matched on, as the
// framework decodes it too, and the query as sent.
func wantForwardedPath(t *testing.T, got *echo, c pathCase) {
	t.Helper()
	if got.rawPath() != c.raw {
		t.Errorf("the app got path %q, want %q", got.rawPath(), c.raw)
	}
	if dec, err := percentDecode(got.rawPath()); err != nil || dec != c.path {
		t.Errorf("the app's path %q decodes to %q (%v), want the routed path %q", got.rawPath(), dec, err, c.path)
	}
	if got.Path != c.path {
		t.Errorf("the framework decoded the path to %q, want %q", got.Path, c.path)
	}
	if got.Query != c.query {
		t.Errorf("the app got query %q, want %q", got.Query, c.query)
	}
}

// wantSealed checks an encrypted answer (200, one Fernet token) and
// returns it decrypted.
func wantSealed(t *testing.T, e *env, x *exchange) []byte {
	t.Helper()
	if x.err != nil || x.resp.StatusCode != http.StatusOK {
		t.Fatalf("want an encrypted 200: %s", x.describe())
	}
	if x.resp.Header.Get("X-Fiber-Encrypted") != "fernet" {
		t.Fatalf("answer not marked X-Fiber-Encrypted: fernet: %s", x.describe())
	}
	return e.decrypt(t, x.body)
}
