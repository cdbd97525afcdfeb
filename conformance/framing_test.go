//go:build unix

package conformance_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/internal/e2etest"
)

// HTTP's lesser-known framing, through every app: trailers, bodies an
// app ignores, answers that come late or twice, and paths spelled in
// another case.

// forgedTrailerFields is a trailer section claiming what only fibergate
// may state, and an address, a URL and a method of its own.
var forgedTrailerFields = []header{
	{"X-Fiber-Validator-Hotkey", "5EvilEvilEvil"},
	{"X-Fiber-Validator-Stake", "1"},
	{"X-Fiber-Symmetric-Key-Uuid", "spoofed"},
	{"X_Forwarded_For", "6.6.6.6"},
	{"Forwarded", "for=6.6.6.6"},
	{"X-Original-URL", "/internal/admin"},
	{"X-HTTP-Method-Override", "DELETE"},
	{"Signature", "0x00"},
	{"X-Trailer-Only", "1"},
}

// chunkedRequest frames body as chunks followed by a trailer section.
func chunkedRequest(method, target string, headers []header, body []byte, trailer []header) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: fibergate.test\r\nTransfer-Encoding: chunked\r\nTrailer: X-Fiber-Validator-Hotkey, X-Trailer-Only\r\n", method, target)
	for _, h := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h.name, h.value)
	}
	b.WriteString("\r\n")
	for len(body) > 0 {
		n := min(len(body), 7)
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, body[:n])
		body = body[n:]
	}
	b.WriteString("0\r\n")
	for _, h := range trailer {
		fmt.Fprintf(&b, "%s: %s\r\n", h.name, h.value)
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// TestTrailers: a chunked request with a trailer section, on every route
// mode, reaches every app with its body, framed by Content-Length, and
// without any field of the trailer section.
func TestTrailers(t *testing.T) {
	eachApp(t, fgOptions{}, func(t *testing.T, e *env) {
		payload := []byte(`{"prompt":"hi"}`)
		key, uuid := e.cl.Key()
		n, err := client.Nonce(time.Now(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := client.WithNonce(payload, n)
		if err != nil {
			t.Fatal(err)
		}
		token, err := key.Seal(nil, plain)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(payload)
		cases := []struct {
			mode, target string
			headers      func() []header
			body, want   []byte
		}{
			{"public", "/v1/echo", func() []header { return nil }, payload, payload},
			{"signed", "/signed/echo", func() []header {
				return append(e.fiberHeaders(t, hex.EncodeToString(sum[:])), header{"Content-Type", "application/json"})
			}, payload, payload},
			{"encrypted", "/enc/echo", func() []header {
				return append(e.fiberHeaders(t, uuid), header{"symmetric-key-uuid", uuid})
			}, token, plain},
		}
		for _, c := range cases {
			t.Run(c.mode, func(t *testing.T) {
				defer e.checkAlive(t)
				x := roundTrip(t, e.fg.addr, chunkedRequest("POST", c.target, c.headers(), c.body, forgedTrailerFields), "POST")
				var got *echo
				if c.mode == "encrypted" {
					got = decodeEcho(t, wantSealed(t, e, x))
				} else {
					if x.err != nil || x.resp.StatusCode != http.StatusOK {
						t.Fatalf("want the app's echo: %s", x.describe())
					}
					got = decodeEcho(t, x.body)
				}
				if b := got.body(t); !bytes.Equal(b, c.want) {
					t.Errorf("the app got body %q, want %q", b, c.want)
				}
				for _, h := range got.Headers {
					norm := got.normName(h[0])
					if norm == "trailer" || norm == "transfer-encoding" || norm == "x-trailer-only" || norm == "x-original-url" ||
						norm == "x-http-method-override" || norm == "signature" || strings.Contains(h[1], "6.6.6.6") {
						t.Errorf("the app saw %s: %s", h[0], h[1])
					}
				}
				wantHotkeys := []string{e2etest.Alice.SS58}
				if c.mode == "public" {
					wantHotkeys = nil
				}
				if v := got.values("x-fiber-validator-hotkey"); !slices.Equal(v, wantHotkeys) {
					t.Errorf("X-Fiber-Validator-Hotkey: the app saw %q, want %q", v, wantHotkeys)
				}
				if v := got.values("x-fiber-validator-stake"); slices.Contains(v, "1") {
					t.Errorf("X-Fiber-Validator-Stake: the app saw %q", v)
				}
				if got.Method != "POST" || got.rawPath() != c.target {
					t.Errorf("the app got %s %s, want POST %s", got.Method, got.Target, c.target)
				}
			})
		}
	})
}

// TestIgnoredBodies: an app that answers without reading the body
// (http.server's handler here never reads it, so http.server reads it as
// the next request) cannot be made to run a request hidden in a public
// body, and one validator's body never reaches another validator's
// answer. The smuggled request goes to a slow endpoint, so its answer
// would come after any check for stray bytes: the outcome does not
// depend on timing. Every round is repeated.
func TestIgnoredBodies(t *testing.T) {
	eachApp(t, fgOptions{}, func(t *testing.T, e *env) {
		t.Run("public-smuggling", func(t *testing.T) {
			defer e.checkAlive(t)
			smuggled := "GET /v1/slow?smuggled=1 HTTP/1.1\r\nHost: app\r\nX-Fiber-Validator-Hotkey: 5Forged\r\n\r\n"
			for i := range 20 {
				before := e.count(t)
				x := roundTrip(t, e.fg.addr, rawRequest("POST", "/v1/ignore-body", nil, []byte(smuggled)), "POST")
				if x.err != nil || x.resp.StatusCode != http.StatusOK {
					t.Fatalf("round %d: %s", i, x.describe())
				}
				// Another client, right after, on whatever connection
				// fibergate picks.
				q := fmt.Sprintf("round=%d", i)
				y := roundTrip(t, e.fg.addr, rawRequest("GET", "/v1/echo?"+q, nil, nil), "GET")
				if y.err != nil || y.resp.StatusCode != http.StatusOK || decodeEcho(t, y.body).Query != q {
					t.Fatalf("round %d: the next request got %s", i, y.describe())
				}
				if n := e.count(t) - before; n != 2 {
					t.Fatalf("round %d: the app served %d requests, want 2 (the smuggled one ran)", i, n)
				}
			}
		})
		t.Run("validator-bodies-stay-apart", func(t *testing.T) {
			defer e.checkAlive(t)
			dave := e2etest.Dave.Handshaken(t, e.fg.addr)
			dv := &env{app: e.app, appAddr: e.appAddr, fg: e.fg, cl: dave}
			for i := range 20 {
				secret := fmt.Sprintf(`{"secret":"alice-%d"}`, i)
				// From the second round on, http.server reads the body the
				// round before left as the start of this request and
				// answers it with an error: that is the same validator's.
				x := roundTrip(t, e.fg.addr, e.signedRequest(t, "POST", "/signed/ignore-body", []byte(secret)), "POST")
				if x.err != nil {
					t.Fatalf("round %d: %s", i, x.describe())
				}
				y := roundTrip(t, e.fg.addr, dv.encRequest(t, "POST", "/enc/echo", []byte(`{"dave":1}`)), "POST")
				got := wantSealed(t, dv, y)
				if bytes.Contains(got, []byte("alice-")) {
					t.Fatalf("round %d: another validator received %q", i, got)
				}
				if decodeEcho(t, got).Method != "POST" {
					t.Fatalf("round %d: the next validator got %q", i, got)
				}
			}
		})
	})
}

// TestLateStrayAnswer: http.server answers 204 and, a moment later, sends a
// second answer nobody asked for. The next request, sent at once, gets
// its own answer, every time.
func TestLateStrayAnswer(t *testing.T) {
	onlyApp(t, "httpserver", func(t *testing.T, addr string, fg *fibergate) {
		for i := range 30 {
			x := roundTrip(t, fg.addr, rawRequest("GET", "/v1/late-stray", nil, nil), "GET")
			if x.err != nil || x.resp.StatusCode != http.StatusNoContent {
				t.Fatalf("round %d: %s", i, x.describe())
			}
			q := fmt.Sprintf("round=%d", i)
			y := roundTrip(t, fg.addr, rawRequest("GET", "/v1/echo?"+q, nil, nil), "GET")
			if y.err != nil || y.resp.StatusCode != http.StatusOK || bytes.Contains(y.body, []byte("stray")) || decodeEcho(t, y.body).Query != q {
				t.Fatalf("round %d: the next request got %s", i, y.describe())
			}
		}
	})
}

// onlyApp runs fn as subtest name, with that app and a fibergate in front
// of it.
func onlyApp(t *testing.T, name string, fn func(t *testing.T, appAddr string, fg *fibergate)) {
	for _, a := range apps {
		if a.name == name {
			t.Run(a.name, func(t *testing.T) {
				addr := a.start(t)
				fn(t, addr, startFibergate(t, addr, fgOptions{}))
			})
			return
		}
	}
	t.Fatalf("no app %s", name)
}

// TestCaseInsensitiveApp: Node's app routes /internal/* as Express does,
// without regard to case or a trailing slash. fibergate's deny route
// /internal/* matches the same way, so no spelling reaches the app's
// admin handler through it.
func TestCaseInsensitiveApp(t *testing.T) {
	onlyApp(t, "node", func(t *testing.T, addr string, fg *fibergate) {
		for _, p := range []string{"/internal/x", "/INTERNAL/x", "/Internal", "/internal", "/internal/", "/iNtErNaL/a/b", "/%49nternal/x", "/INTERNAL%2fx"} {
			// Asked directly, the app serves its admin handler.
			direct := roundTrip(t, addr, rawRequest("GET", p, nil, nil), "GET")
			admin := direct.err == nil && direct.resp.StatusCode == 200 && bytes.Contains(direct.body, []byte(`"admin":true`))
			if !admin {
				t.Errorf("asked directly, the app does not route %s to admin: %s", p, direct.describe())
			}
			before := appCount(t, addr)
			x := roundTrip(t, fg.addr, rawRequest("GET", p, nil, nil), "GET")
			if x.err != nil || (x.resp.StatusCode != 404 && x.resp.StatusCode != 400) {
				t.Errorf("GET %s through fibergate: %s, want 404 (or 400 bad_path)", p, x.describe())
			}
			if n := appCount(t, addr) - before; n != 0 {
				t.Errorf("GET %s through fibergate reached the app", p)
			}
		}
	})
}
