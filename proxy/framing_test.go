package proxy_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/proxy"
)

// What reaches the app is built from what was checked: these tests send
// HTTP's lesser-known framing (trailers, bodies an app ignores, early and
// stray answers, resends, case) and look at what the app received.

// modeGate is a fibergate in front of app with a route of each mode.
func modeGate(t *testing.T, app *scriptedApp) *gate {
	t.Helper()
	return startGate(t, gateOptions{upstream: app.URL, routes: []proxy.Route{
		{Path: "/open/*", Mode: proxy.ModePublic},
		{Path: "/signed/*", Mode: proxy.ModeSigned},
		{Path: "/enc/*", Mode: proxy.ModeEncrypted, Response: proxy.ResponsePlain},
		{Path: "/internal/*", Mode: proxy.ModeDeny},
	}, def: &proxy.Route{Mode: proxy.ModePublic}})
}

// chunked frames body as one chunk and a trailer section holding trailer.
func chunked(body, trailer string) string {
	return fmt.Sprintf("%x\r\n%s\r\n0\r\n%s\r\n", len(body), body, trailer)
}

// headerLines renders h as request header lines.
func headerLines(h http.Header) string {
	var b strings.Builder
	for k, vs := range h {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	return b.String()
}

// forgedTrailer is a trailer section claiming an identity, an address, a
// rewritten URL and framing.
const forgedTrailer = "X-Fiber-Validator-Hotkey: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY\r\n" +
	"X-Fiber-Validator-Stake: 1\r\nX_Forwarded_For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n" +
	"X-Original-URL: /internal/admin\r\nSignature: 0x00\r\nX-Trailer-Only: 1\r\n"

// TestTrailersNeverReachTheApp: a chunked request's trailer section is
// dropped on every route mode; the app gets the body with a
// Content-Length and no field of the trailer section.
func TestTrailersNeverReachTheApp(t *testing.T) {
	app := startScriptedApp(t, scriptedAnswers)
	g := modeGate(t, app)
	kp := aliceKeypair(t)
	c := newClient(t, g, aliceSeed)
	if err := c.Handshake(context.Background()); err != nil {
		t.Fatal(err)
	}
	key, uuid := c.Key()

	signedBody := `{"prompt":"hi"}`
	sum := sha256.Sum256([]byte(signedBody))
	signed := signedHeaders(t, kp, freshNonce(g.Clock.Now()), g.Miner, hex.EncodeToString(sum[:]))

	plain, err := client.WithNonce([]byte(`{"prompt":"hi"}`), freshNonce(g.Clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	token := string(encryptBody(t, key, string(plain), g.Clock.Now()))
	enc := signedHeaders(t, kp, freshNonce(g.Clock.Now()), g.Miner, uuid)
	enc.Set("symmetric-key-uuid", uuid)

	cases := []struct {
		name, path, head, body string
		want                   string // the body the app must get
	}{
		{"public", "/open/echo", "", "hello", "hello"},
		{"signed", "/signed/echo", headerLines(signed), signedBody, signedBody},
		{"encrypted", "/enc/echo", headerLines(enc), token, string(plain)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(app.requests())
			req := "POST " + tc.path + " HTTP/1.1\r\nHost: a\r\nTrailer: X-Fiber-Validator-Hotkey\r\n" +
				"Transfer-Encoding: chunked\r\n" + tc.head + "Connection: close\r\n\r\n" + chunked(tc.body, forgedTrailer)
			if got := rawExchange(t, gateAddr(g), req); !strings.HasPrefix(got, "HTTP/1.1 200 ") {
				t.Fatalf("answer %.200q", got)
			}
			rs := app.requests()
			if len(rs) != before+1 {
				t.Fatalf("the app got %d requests, want 1", len(rs)-before)
			}
			r := rs[len(rs)-1]
			if string(r.Body) != tc.want {
				t.Errorf("body %q, want %q", r.Body, tc.want)
			}
			if r.Header.Get("Content-Length") == "" || r.Header.Get("Transfer-Encoding") != "" {
				t.Errorf("framing: Content-Length %q, Transfer-Encoding %q", r.Header.Get("Content-Length"), r.Header.Get("Transfer-Encoding"))
			}
			for _, line := range r.RawHeader {
				name, value, _ := strings.Cut(line, ":")
				switch strings.ToLower(name) {
				case "trailer", "x-trailer-only", "x-original-url", "signature", "x-forwarded-for-", "x_forwarded_for":
					t.Errorf("the app received %q", line)
				}
				if strings.Contains(value, "6.6.6.6") || strings.Contains(value, "/internal/admin") {
					t.Errorf("the app received %q", line)
				}
			}
			hotkeys := r.Header.Values("X-Fiber-Validator-Hotkey")
			wantHotkeys := 0
			if tc.name != "public" {
				wantHotkeys = 1
			}
			if len(hotkeys) != wantHotkeys || r.Header.Get("X-Fiber-Validator-Stake") == "1" {
				t.Errorf("identity headers %q, stake %q: want %d verified hotkey", hotkeys, r.Header.Values("X-Fiber-Validator-Stake"), wantHotkeys)
			}
		})
	}
}

// TestRewriteHeadersRemoved: headers that tell an app another URL, method,
// scheme or client never reach it, nor does any header name an app could
// map onto another one ("_", "."), in any case.
func TestRewriteHeadersRemoved(t *testing.T) {
	app := startScriptedApp(t, scriptedAnswers)
	g := modeGate(t, app)
	forged := []string{
		"X-Original-URL: /internal/admin", "X-Rewrite-URL: /internal/admin", "X-Original-URI: /internal/admin",
		"X-HTTP-Method-Override: DELETE", "X-HTTP-Method: DELETE", "X-Method-Override: DELETE",
		"X-Original-Method: DELETE", "X-Forwarded-Prefix: /internal", "X-Forwarded-Host: evil",
		"X-Host: evil", "X-Scheme: https", "X-Script-Name: /internal", "Front-End-Https: on",
		"X-Client-IP: 6.6.6.6", "True-Client-IP: 6.6.6.6", "CF-Connecting-IP: 6.6.6.6",
		"X-Cluster-Client-IP: 6.6.6.6", "Client-IP: 6.6.6.6", "X-Envoy-Original-Path: /internal/admin",
		"X.Fiber.Validator.Hotkey: 5Forged", "x.fiber_validator-hotkey: 5Forged", "Validator.Hotkey: 5Forged",
		"X_Custom: dropped", "X.Custom: dropped", "Expect: 100-continue",
	}
	req := "GET /open/echo HTTP/1.1\r\nHost: a\r\n" + strings.Join(forged, "\r\n") + "\r\nX-Kept: 1\r\nConnection: close\r\n\r\n"
	// fibergate's server answers Expect: 100-continue itself.
	if got := rawExchange(t, gateAddr(g), req); !strings.Contains(got, "HTTP/1.1 200 ") {
		t.Fatalf("answer %.200q", got)
	}
	r := lastRequest(t, app)
	for _, line := range r.RawHeader {
		name, _, _ := strings.Cut(line, ":")
		for _, f := range forged {
			if fname, _, _ := strings.Cut(f, ":"); strings.EqualFold(name, fname) {
				t.Errorf("the app received %q", line)
			}
		}
		if strings.ContainsAny(name, "_.") {
			t.Errorf("the app received %q", line)
		}
	}
	if r.Header.Get("X-Kept") != "1" || r.Target != "/open/echo" || r.Method != "GET" {
		t.Errorf("the app got %s %s with X-Kept %q", r.Method, r.Target, r.Header.Get("X-Kept"))
	}
}

// TestConnectionHeaderNamesAnyNumber: every header a Connection header
// names is removed, however many it names, both ways.
func TestConnectionHeaderNamesAnyNumber(t *testing.T) {
	var names []string
	for i := range 100 {
		names = append(names, fmt.Sprintf("X-Conn-%d", i))
	}
	respHead := "HTTP/1.1 200 OK\r\nConnection: " + strings.Join(names, ", ") + "\r\n"
	for _, n := range names {
		respHead += n + ": 1\r\n"
	}
	app := startScriptedApp(t, func(w *bufio.Writer, c net.Conn, r *scriptedRequest) bool {
		io.WriteString(w, respHead+"Content-Length: 2\r\n\r\nok")
		return true
	})
	g := modeGate(t, app)
	req := "GET /open/x HTTP/1.1\r\nHost: a\r\nConnection: " + strings.Join(names, ",") + "\r\n"
	for _, n := range names {
		req += n + ": 1\r\n"
	}
	got := rawExchange(t, gateAddr(g), req+"X-Kept: 1\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200 ") {
		t.Fatalf("answer %.200q", got)
	}
	if strings.Contains(strings.ToLower(got), "x-conn-") {
		t.Errorf("the validator received a header the app's Connection header named")
	}
	r := lastRequest(t, app)
	for _, line := range r.RawHeader {
		if strings.HasPrefix(strings.ToLower(line), "x-conn-") {
			t.Errorf("the app received %q", line)
		}
	}
	if r.Header.Get("X-Kept") != "1" {
		t.Error("X-Kept was removed too")
	}
}

// TestRoutesIgnoreCaseAndTrailingSlash: a deny route cannot be walked past
// by case, by dropping the part after the prefix, or by a trailing "/".
func TestRoutesIgnoreCaseAndTrailingSlash(t *testing.T) {
	app := startScriptedApp(t, scriptedAnswers)
	g := modeGate(t, app)
	for _, p := range []string{"/internal/x", "/INTERNAL/x", "/Internal", "/internal", "/internal/", "/iNtErNaL/a/b", "/%49nternal/x", "/\u0131nternal/x", "/internal%2f"} {
		before := len(app.requests())
		got := rawExchange(t, gateAddr(g), "GET "+p+" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 404 ") && !strings.HasPrefix(got, "HTTP/1.1 400 ") {
			t.Errorf("GET %s: %.80q, want 404 (or 400 bad_path)", p, got)
		}
		if len(app.requests()) != before {
			t.Errorf("GET %s reached the app", p)
		}
	}
	if got := rawExchange(t, gateAddr(g), "GET /internals HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 200 ") {
		t.Errorf("GET /internals (not under /internal/): %.80q, want the app's 200", got)
	}
}

// TestBodiesTheAppIgnores: an app that answers without reading a body
// (Python's http.server does when the handler ignores it) reads the body
// as the next request on that connection. A public request's body is
// sent with Connection: close, so the connection carries nothing after
// it; the app sees one request per connection, and a smuggled one never
// runs. The scripted app here reads bodies as http.server does: not at
// all.
func TestBodiesTheAppIgnores(t *testing.T) {
	var ran sync.Map
	app := startScriptedApp(t, func(w *bufio.Writer, c net.Conn, r *scriptedRequest) bool {
		ran.Store(r.Target, true)
		body := "answer to " + r.Target
		fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		return r.Header.Get("Connection") != "close"
	})
	app.ignoreBody = func(*scriptedRequest) bool { return true }
	g := modeGate(t, app)
	smuggled := "GET /internal/admin HTTP/1.1\r\nHost: a\r\nX-Fiber-Validator-Hotkey: 5Forged\r\n\r\n"
	for i := range 20 {
		st, _, body := rawRequest(t, http.MethodPost, g.URL+"/open/ping", nil, []byte(smuggled))
		if st != 200 || string(body) != "answer to /open/ping" {
			t.Fatalf("request %d: %d %q", i, st, body)
		}
		// Another client's request right after, on whatever connection
		// fibergate picks.
		path := fmt.Sprintf("/open/other%d", i)
		st, _, body = rawRequest(t, http.MethodGet, g.URL+path, nil, nil)
		if st != 200 || string(body) != "answer to "+path {
			t.Fatalf("request %d after the smuggling attempt: %d %q", i, st, body)
		}
	}
	if _, ok := ran.Load("/internal/admin"); ok {
		t.Error("the smuggled request ran on the app")
	}
}

// TestStrayAnswerAfterBodiless: an app that sends a stray answer a moment
// after a bodiless one (a 204 with a body, a HEAD answered with one) must
// never have it read as the next request's answer: a connection that
// carried a bodiless answer is not reused.
func TestStrayAnswerAfterBodiless(t *testing.T) {
	for _, tc := range []struct{ method, path string }{{"GET", "/open/nocontent"}, {"HEAD", "/open/head"}, {"GET", "/open/notmodified"}} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			app := startScriptedApp(t, func(w *bufio.Writer, c net.Conn, r *scriptedRequest) bool {
				switch {
				case r.Target == "/open/nocontent":
					io.WriteString(w, "HTTP/1.1 204 No Content\r\n\r\n")
				case r.Target == "/open/notmodified":
					io.WriteString(w, "HTTP/1.1 304 Not Modified\r\n\r\n")
				case r.Method == "HEAD":
					io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
				default:
					body := "answer to " + r.Target
					fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
					return true
				}
				w.Flush()
				time.Sleep(30 * time.Millisecond)
				io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray")
				return true
			})
			g := modeGate(t, app)
			for i := range 10 {
				if st, _, _ := rawRequest(t, tc.method, g.URL+tc.path, nil, nil); st >= 300 && st != 304 {
					t.Fatalf("%s %s: %d", tc.method, tc.path, st)
				}
				// The next request goes before the stray answer arrives.
				path := fmt.Sprintf("/open/r%d", i)
				st, _, body := rawRequest(t, http.MethodGet, g.URL+path, nil, nil)
				if st != 200 || string(body) != "answer to "+path {
					t.Fatalf("request %d: %d %q, want its own answer", i, st, body)
				}
			}
		})
	}
}

// TestEarlyAnswerNotReused: an answer that arrives while fibergate is still
// sending a large body (the app did not wait for it) leaves a connection
// whose unread rest the app would take for the next request: it is
// closed, never reused.
func TestEarlyAnswerNotReused(t *testing.T) {
	app := startScriptedApp(t, func(w *bufio.Writer, c net.Conn, r *scriptedRequest) bool {
		io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	app.answerBeforeBody = true
	g := startGate(t, gateOptions{upstream: app.URL, maxBody: 8 << 20, routes: []proxy.Route{{Path: "*", Mode: proxy.ModeSigned}}})
	kp := aliceKeypair(t)
	body := `{"pad":"` + strings.Repeat("x", 6<<20) + `"}`
	sum := sha256.Sum256([]byte(body))
	for i := range 2 {
		h := signedHeaders(t, kp, freshNonce(g.Clock.Now()), g.Miner, hex.EncodeToString(sum[:]))
		if st, _, b := rawRequest(t, http.MethodPost, g.URL+"/big", h, []byte(body)); st != 200 || string(b) != "ok" {
			t.Fatalf("request %d: %d %q", i, st, b)
		}
	}
	if n := app.connections(); n != 2 {
		t.Errorf("two requests answered early used %d connections, want 2", n)
	}
}

// TestResendOnlyOnceOnlyReused: a bodiless GET whose reused connection
// closes before any answer byte is sent again once, on a fresh connection;
// a fresh connection that closes is a 502 (the app got the request once);
// a POST is never sent twice.
func TestResendOnlyOnceOnlyReused(t *testing.T) {
	var seen sync.Map // target -> *atomic.Int64
	count := func(target string) int64 {
		v, _ := seen.LoadOrStore(target, new(atomic.Int64))
		return v.(*atomic.Int64).Load()
	}
	app := startScriptedApp(t, func(w *bufio.Writer, c net.Conn, r *scriptedRequest) bool {
		v, _ := seen.LoadOrStore(r.Target, new(atomic.Int64))
		n := v.(*atomic.Int64).Add(1)
		switch {
		case strings.HasPrefix(r.Target, "/open/closeonly"):
			return false // closes without answering, every time
		case strings.HasPrefix(r.Target, "/open/closefirst") && n == 1:
			return false
		}
		io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	g := modeGate(t, app)

	// A fresh connection that closes: 502, sent once.
	if st, _, body := rawRequest(t, http.MethodGet, g.URL+"/open/closeonly-fresh", nil, nil); st != 502 || errorCode(body) != "upstream_unavailable" {
		t.Errorf("GET on a fresh connection the app closed: %d %s, want 502 upstream_unavailable", st, body)
	}
	if n := count("/open/closeonly-fresh"); n != 1 {
		t.Errorf("the app received the GET %d times, want 1", n)
	}

	// A reused connection that closes before answering: one resend.
	warm := func() {
		if st, _, _ := rawRequest(t, http.MethodGet, g.URL+"/open/warm", nil, nil); st != 200 {
			t.Fatalf("warm-up: %d", st)
		}
	}
	warm()
	if st, _, body := rawRequest(t, http.MethodGet, g.URL+"/open/closefirst", nil, nil); st != 200 || string(body) != "ok" {
		t.Errorf("GET whose reused connection closed: %d %q, want the resend's 200", st, body)
	}
	if n := count("/open/closefirst"); n != 2 {
		t.Errorf("the app received the GET %d times, want 2 (one resend)", n)
	}
	warm()
	if st, _, _ := rawRequest(t, http.MethodGet, g.URL+"/open/closeonly-reused", nil, nil); st != 502 {
		t.Errorf("GET whose connections all close: %d, want 502", st)
	}
	if n := count("/open/closeonly-reused"); n != 2 {
		t.Errorf("the app received the GET %d times, want 2 (at most one resend)", n)
	}
	warm()
	if st, _, _ := rawRequest(t, http.MethodPost, g.URL+"/open/closeonly-post", nil, []byte(`{"a":1}`)); st != 502 {
		t.Errorf("POST whose connection closed: %d, want 502", st)
	}
	if n := count("/open/closeonly-post"); n != 1 {
		t.Errorf("the app received the POST %d times, want 1", n)
	}
}

// TestEncryptedStreamFirstLine: an encrypted stream that cannot deliver its
// first line is answered with a 5xx and a code, not a connection cut
// before any status line.
func TestEncryptedStreamFirstLine(t *testing.T) {
	app := startScriptedApp(t, func(w *bufio.Writer, c net.Conn, r *scriptedRequest) bool {
		head := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
		switch {
		case strings.HasPrefix(r.Target, "/enc/long"):
			long := strings.Repeat("x", 100)
			fmt.Fprintf(w, "%s%x\r\n%s\n\r\n0\r\n\r\n", head, len(long)+1, long)
		case strings.HasPrefix(r.Target, "/enc/cut"):
			fmt.Fprintf(w, "%s5\r\npart", head)
			return false
		case strings.HasPrefix(r.Target, "/enc/silent"):
			io.WriteString(w, head)
			w.Flush()
			time.Sleep(1500 * time.Millisecond)
			return false
		case strings.HasPrefix(r.Target, "/enc/empty"):
			fmt.Fprintf(w, "%s0\r\n\r\n", head)
		}
		return true
	})
	g := startGate(t, gateOptions{upstream: app.URL, maxStreamLine: 64, timeout: 500 * time.Millisecond,
		routes: []proxy.Route{{Path: "/enc/*", Mode: proxy.ModeEncrypted, Response: proxy.ResponseEncrypted}}})
	c := newClient(t, g, aliceSeed)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Handshake(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{"/enc/long", 502, "upstream_too_large"},
		{"/enc/cut", 502, "upstream_unavailable"},
		{"/enc/silent", 504, "upstream_timeout"},
		{"/enc/empty", 200, ""},
	} {
		status, err := c.Stream(ctx, tc.path, []byte(`{}`), func([]byte) error { return nil })
		var ce *client.Error
		switch {
		case tc.status == 200:
			if err != nil || status != 200 {
				t.Errorf("%s: %d %v, want an empty 200", tc.path, status, err)
			}
		case !asClientError(err, &ce) || ce.Status != tc.status || ce.Code != tc.code:
			t.Errorf("%s: status %d, err %v; want %d %s", tc.path, status, err, tc.status, tc.code)
		}
	}
	waitSeries(t, g, "fibergate_upstream_streams_total", "line_too_long", 1)
}

func asClientError(err error, target **client.Error) bool {
	return errors.As(err, target)
}

// TestIgnoredBodyStaysWithItsValidator: an app that answers without
// reading a verified JSON body reads the leftover bytes as the start of the
// next request on that connection and answers it with an error quoting
// them, as Python's http.server does. That next request is always the same
// validator's: another validator never receives the first one's body.
func TestIgnoredBodyStaysWithItsValidator(t *testing.T) {
	app := startScriptedApp(t, func(w *bufio.Writer, c net.Conn, r *scriptedRequest) bool {
		if _, ok := knownMethods[r.Method]; !ok {
			body := "Bad request syntax (" + r.Method + " " + r.Target + ")"
			fmt.Fprintf(w, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			return false
		}
		body := "answer to " + r.Target
		fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		return true
	})
	app.ignoreBody = func(r *scriptedRequest) bool { return strings.HasPrefix(r.Target, "/signed/ignore") }
	otherSeed := mustSeed("0x0202020202020202020202020202020202020202020202020202020202020202")
	alice := aliceKeypair(t)
	other, err := sr25519.KeypairFromSeed(otherSeed)
	if err != nil {
		t.Fatal(err)
	}
	g := startGate(t, gateOptions{upstream: app.URL, validators: stakeTable{alice.Public(): 5000, other.Public(): 5000},
		routes: []proxy.Route{{Path: "/signed/*", Mode: proxy.ModeSigned}}})
	post := func(kp *sr25519.Keypair, path, body string) (int, []byte) {
		sum := sha256.Sum256([]byte(body))
		h := signedHeaders(t, kp, freshNonce(g.Clock.Now()), g.Miner, hex.EncodeToString(sum[:]))
		st, _, b := rawRequest(t, http.MethodPost, g.URL+path, h, []byte(body))
		return st, b
	}
	for i := range 20 {
		post(alice, fmt.Sprintf("/signed/ignore%d", i), fmt.Sprintf(`{"secret":"alice-%d"}`, i))
		path := fmt.Sprintf("/signed/b%d", i)
		st, b := post(other, path, `{"x":1}`)
		if strings.Contains(string(b), "alice") {
			t.Fatalf("request %d: another validator received %q", i, b)
		}
		if st != 200 || string(b) != "answer to "+path {
			t.Fatalf("request %d: %d %q, want its own answer", i, st, b)
		}
	}
}

var knownMethods = map[string]struct{}{"GET": {}, "HEAD": {}, "POST": {}, "PUT": {}, "PATCH": {}, "DELETE": {}, "OPTIONS": {}}

// TestPooledConnectionReusedAfterItsDeadline: a kept-alive connection idle
// for less than upstream.idle_timeout carries the next request even when
// the previous exchange's deadline (upstream.timeout) has passed.
func TestPooledConnectionReusedAfterItsDeadline(t *testing.T) {
	app := startScriptedApp(t, func(w *bufio.Writer, c net.Conn, r *scriptedRequest) bool {
		io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	// An idle timeout far above the pauses: this test is about the
	// deadline, and a loaded machine must not stretch a pause past 1 s.
	g := startGate(t, gateOptions{upstream: app.URL, timeout: 200 * time.Millisecond, idle: 30 * time.Second,
		routes: []proxy.Route{{Path: "*", Mode: proxy.ModePublic}}})
	for i := range 3 {
		if st, _, b := rawRequest(t, http.MethodGet, g.URL+"/x", nil, nil); st != 200 || string(b) != "ok" {
			t.Fatalf("request %d: %d %q", i, st, b)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if n := app.connections(); n != 1 {
		t.Errorf("3 requests 300 ms apart used %d connections, want 1", n)
	}
}
