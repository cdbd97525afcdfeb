//go:build unix

package conformance_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// smuggled is a GET body that is itself a request: an app that leaves GET
// bodies unread (http.server) reads it as the next request on the
// connection, and its answer waits there for whoever is sent next.
const smuggled = "GET /v1/echo?smuggled=1 HTTP/1.1\r\nHost: app\r\n\r\n"

// TestRequestBodies checks bodies on methods that have no body semantics.
func TestRequestBodies(t *testing.T) {
	eachApp(t, fgOptions{}, func(t *testing.T, e *env) {
		// An encrypted request on a GET-like method carries no body
		// Fiber would decrypt; one that has a body anyway is refused
		// rather than forwarded undecrypted.
		for _, m := range []string{"GET", "HEAD", "OPTIONS", "DELETE"} {
			t.Run("encrypted-"+strings.ToLower(m)+"-with-body", func(t *testing.T) {
				defer e.checkAlive(t)
				key, uuid := e.cl.Key()
				token, err := key.Seal(nil, []byte(`{"nonce":"x"}`))
				if err != nil {
					t.Fatal(err)
				}
				hs := append(e.fiberHeaders(t, uuid), header{"symmetric-key-uuid", uuid})
				before := e.count(t)
				x := roundTrip(t, e.fg.addr, rawRequest(m, "/enc/echo", hs, token), m)
				if m == "HEAD" {
					// A HEAD answer has no body to carry the error code.
					if x.resp == nil || x.resp.StatusCode != http.StatusBadRequest {
						t.Errorf("want 400: %s", x.describe())
					}
				} else {
					wantError(t, x, 400, "body_not_allowed")
				}
				if n := e.count(t); n != before {
					t.Errorf("the app was asked %d time(s); want never", n-before)
				}
			})
		}
		// The same request without a body is a Fiber 2.4 signed GET: it
		// reaches the app, so the refusals above are for the body alone.
		t.Run("encrypted-get-without-body", func(t *testing.T) {
			defer e.checkAlive(t)
			x := roundTrip(t, e.fg.addr, e.encRequest(t, "GET", "/enc/echo", nil), "GET")
			got := decodeEcho(t, wantSealed(t, e, x))
			if got.Method != "GET" || len(got.body(t)) != 0 {
				t.Errorf("the app got %s with body %q, want GET with none", got.Method, got.body(t))
			}
		})
		// A public GET with a body is forwarded, on a connection that is
		// not used again: an app that ignores GET bodies would otherwise
		// leave the body on the connection to be read as a request of
		// its own, whose answer the next validator would get.
		t.Run("public-get-with-body", func(t *testing.T) {
			defer e.checkAlive(t)
			x := roundTrip(t, e.fg.addr, rawRequest("GET", "/v1/echo?first=1", nil, []byte(smuggled)), "GET")
			if x.err != nil || x.resp.StatusCode != http.StatusOK {
				t.Fatalf("want the app's echo: %s", x.describe())
			}
			got := decodeEcho(t, x.body)
			if got.Query != "first=1" {
				t.Fatalf("got the answer to %q, want first=1", got.Query)
			}
			if c := strings.ToLower(strings.Join(got.values("connection"), ",")); !strings.Contains(c, "close") {
				t.Errorf("the app got Connection %q, want close", c)
			}
			if e.app.readsGETBody {
				if b := got.body(t); string(b) != smuggled {
					t.Errorf("the app got body %q, want %q", b, smuggled)
				}
			}
			for i := range 3 {
				q := fmt.Sprintf("next=%d", i)
				y := roundTrip(t, e.fg.addr, rawRequest("GET", "/v1/echo?"+q, nil, nil), "GET")
				if y.err != nil || y.resp.StatusCode != http.StatusOK {
					t.Fatalf("request %s after the GET with a body: %s", q, y.describe())
				}
				if got := decodeEcho(t, y.body); got.Query != q {
					t.Errorf("request %s got the answer to %q (a stale answer left on a reused connection)", q, got.Query)
				}
			}
		})
	})
}
