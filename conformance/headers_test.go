//go:build unix

package conformance_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/fibergate/fibergate/internal/e2etest"
)

// spoofs are X-Fiber-* headers a client could send to pass as a verified
// validator, in every spelling an app could read as the real ones: WSGI
// and CGI servers read "_" as "-", and every framework folds case.
var spoofs = []header{
	{"X-Fiber-Validator-Hotkey", "5EvilEvilEvil"},
	{"X_Fiber_Validator_Hotkey", "5EvilEvilEvil"},
	{"x-FIBER-validator-hotkey", "5EvilEvilEvil"},
	{"X-Fiber-Validator-Stake", "1000000000"},
	{"X-Fiber-Validator-Stake", "1000000000"},
	{"X_FIBER_VALIDATOR_STAKE", "1000000000"},
	{"X-Fiber-Symmetric-Key-Uuid", "spoofed"},
	{"X_Fiber_Symmetric_Key_Uuid", "spoofed"},
	{"X-Fiber-Anything-Else", "1"},
}

// forwardingSpoofs are client-sent claims about who the client is.
var forwardingSpoofs = []header{
	{"X-Forwarded-For", "6.6.6.6"},
	{"X_Forwarded_For", "6.6.6.7"},
	{"Forwarded", "for=6.6.6.6;proto=https"},
	{"X-Real-IP", "6.6.6.6"},
	{"X_Real_IP", "6.6.6.8"},
	{"X-Forwarded-Host", "evil.example"},
	{"X-Forwarded-Proto", "https"},
	{"X_Forwarded_Port", "443"},
}

func isFiber(n string) bool { return strings.HasPrefix(n, "x-fiber-") }

func isForwarding(n string) bool {
	return n == "forwarded" || n == "x-real-ip" || strings.HasPrefix(n, "x-forwarded-")
}

// clientView is what an app must see of a client at ip: fibergate's own
// view, in each of the three headers apps read it from.
//
// httputil.ReverseProxy differs: it appends the client's address to any
// X-Forwarded-For the client sent and passes Forwarded and X-Real-IP on
// untouched, so an app reading them trusts whatever the client wrote.
func clientView(ip string) []string {
	return []string{"forwarded: for=" + ip, "x-forwarded-for: " + ip, "x-real-ip: " + ip}
}

func wantSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: the app saw %q, want %q", what, got, want)
	}
}

// TestRequestHeaders checks the headers an app gets: nothing a client
// could use to pose as a verified validator or as another address, no
// connection-scoped headers, and the verified identity on verified
// requests.
func TestRequestHeaders(t *testing.T) {
	eachApp(t, fgOptions{}, func(t *testing.T, e *env) {
		public := func(t *testing.T, hs ...header) *echo {
			t.Helper()
			x := roundTrip(t, e.fg.addr, rawRequest("GET", "/v1/echo", hs, nil), "GET")
			if x.err != nil || x.resp.StatusCode != http.StatusOK {
				t.Fatalf("want the app's echo: %s", x.describe())
			}
			return decodeEcho(t, x.body)
		}

		t.Run("public-fiber-spoofs-removed", func(t *testing.T) {
			defer e.checkAlive(t)
			got := public(t, append(slices.Clone(spoofs), header{"X-Fiberish", "kept"})...)
			wantSet(t, "X-Fiber-* headers", got.matching(isFiber), nil)
			if v := got.values("x-fiberish"); !slices.Equal(v, []string{"kept"}) {
				t.Errorf("X-Fiberish (not an X-Fiber- header): the app saw %q, want [kept]", v)
			}
		})
		t.Run("forwarding-absent", func(t *testing.T) {
			defer e.checkAlive(t)
			got := public(t)
			wantSet(t, "forwarding headers", got.matching(isForwarding), clientView("127.0.0.1"))
		})
		t.Run("forwarding-spoofs-replaced", func(t *testing.T) {
			defer e.checkAlive(t)
			got := public(t, forwardingSpoofs...)
			wantSet(t, "forwarding headers", got.matching(isForwarding), clientView("127.0.0.1"))
		})
		// RFC 9110 section 7.6.1: the Connection header names headers
		// meant for this connection only; they go with it.
		t.Run("connection-named-removed", func(t *testing.T) {
			defer e.checkAlive(t)
			got := public(t, header{"Connection", "keep-alive, X-Secret"}, header{"X-Secret", "1"}, header{"X-Kept", "1"})
			if v := got.values("x-secret"); len(v) > 0 {
				t.Errorf("X-Secret: the app saw %q, want none", v)
			}
			if v := got.values("x-kept"); !slices.Equal(v, []string{"1"}) {
				t.Errorf("X-Kept: the app saw %q, want [1]", v)
			}
		})
		t.Run("hop-by-hop-removed", func(t *testing.T) {
			defer e.checkAlive(t)
			got := public(t,
				header{"Keep-Alive", "timeout=5"}, header{"TE", "trailers"}, header{"Trailer", "X-T"},
				header{"Proxy-Authorization", "Basic Zm9vOmJhcg=="}, header{"Proxy-Connection", "keep-alive"},
				header{"Upgrade", "h2c"})
			hop := func(n string) bool {
				switch n {
				case "keep-alive", "te", "trailer", "proxy-authorization", "proxy-connection", "upgrade":
					return true
				}
				return false
			}
			wantSet(t, "hop-by-hop headers", got.matching(hop), nil)
		})
		t.Run("end-to-end-kept", func(t *testing.T) {
			defer e.checkAlive(t)
			got := public(t, header{"X-Custom", "a b"}, header{"User-Agent", "conformance/1"}, header{"Accept", "application/json"})
			for name, want := range map[string]string{"x-custom": "a b", "user-agent": "conformance/1", "accept": "application/json"} {
				if v := got.values(name); !slices.Equal(v, []string{want}) {
					t.Errorf("%s: the app saw %q, want [%q]", name, v, want)
				}
			}
		})
		t.Run("encrypted-identity", func(t *testing.T) {
			defer e.checkAlive(t)
			_, uuid := e.cl.Key()
			extra := append(slices.Clone(spoofs), forwardingSpoofs...)
			x := roundTrip(t, e.fg.addr, e.encRequest(t, "POST", "/enc/echo", []byte(`{"prompt":"hi"}`), extra...), "POST")
			got := decodeEcho(t, wantSealed(t, e, x))
			wantSet(t, "X-Fiber-* headers", got.matching(isFiber), []string{
				"x-fiber-validator-hotkey: " + e2etest.Alice.SS58,
				"x-fiber-validator-stake: " + aliceStake,
				"x-fiber-symmetric-key-uuid: " + uuid,
			})
			wantSet(t, "forwarding headers", got.matching(isForwarding), clientView("127.0.0.1"))
			if v := got.values("signature"); len(v) > 0 {
				t.Errorf("signature: the app saw %q, want none", v)
			}
			if v := got.values("content-type"); !slices.Equal(v, []string{"application/json"}) {
				t.Errorf("Content-Type: the app saw %q, want [application/json]", v)
			}
			var body struct{ Prompt, Nonce string }
			if err := json.Unmarshal(got.body(t), &body); err != nil || body.Prompt != "hi" || body.Nonce == "" {
				t.Errorf("the app got body %q (%v), want the decrypted payload with its nonce", got.body(t), err)
			}
		})
		t.Run("signed-identity", func(t *testing.T) {
			defer e.checkAlive(t)
			extra := append(slices.Clone(spoofs), forwardingSpoofs...)
			payload := []byte(`{"prompt":"hi"}`)
			x := roundTrip(t, e.fg.addr, e.signedRequest(t, "POST", "/signed/echo", payload, extra...), "POST")
			if x.err != nil || x.resp.StatusCode != http.StatusOK {
				t.Fatalf("want the app's echo: %s", x.describe())
			}
			got := decodeEcho(t, x.body)
			wantSet(t, "X-Fiber-* headers", got.matching(isFiber), []string{
				"x-fiber-validator-hotkey: " + e2etest.Alice.SS58,
				"x-fiber-validator-stake: " + aliceStake,
			})
			wantSet(t, "forwarding headers", got.matching(isForwarding), clientView("127.0.0.1"))
			if b := got.body(t); string(b) != string(payload) {
				t.Errorf("the app got body %q, want %q as signed", b, payload)
			}
		})
		// With a trusted front proxy, the client is the first address
		// from the right that is not trusted: 127.0.0.1 (the connection)
		// is trusted, 10.1.2.3 is not, and what is left of it is the
		// client's own claim.
		t.Run("trusted-proxy", func(t *testing.T) {
			fg := startFibergate(t, e.appAddr, fgOptions{trustedProxies: []string{"127.0.0.0/8"}})
			x := roundTrip(t, fg.addr, rawRequest("GET", "/v1/echo", []header{{"X-Forwarded-For", "6.6.6.6, 10.1.2.3"}}, nil), "GET")
			if x.err != nil || x.resp.StatusCode != http.StatusOK {
				t.Fatalf("want the app's echo: %s", x.describe())
			}
			got := decodeEcho(t, x.body)
			wantSet(t, "forwarding headers", got.matching(isForwarding), clientView("10.1.2.3"))
		})
	})
}
