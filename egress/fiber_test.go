package egress

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/fibergate/fibergate/internal/fibertest"
)

// An encrypted POST reaches a Fiber miner as Fiber's client sends it: the
// five signed headers in lower case, the caller's JSON with a fresh inner
// nonce (replacing the caller's), every other value unchanged; the answer
// comes back as the miner gave it.
func TestEncryptedPostToFiberMiner(t *testing.T) {
	r := newRig(t, rigOptions{})
	body := `{"prompt": "h\u00e9llo", "big": 123456789012345678901234567890, "nonce": "mine", "f": 1.50}`
	a := r.post(r.minerPath("/echo?x=1"), body, "X-Custom", "kept", "X-Fibergate-Mode", "encrypted", "Nonce", "forged")
	if a.status != 200 || a.code() != "" {
		t.Fatalf("got %d %s: %s", a.status, a.code(), a.body)
	}
	got := r.miner.Received()
	if len(got) != 1 {
		t.Fatalf("the miner received %d requests", len(got))
	}
	rec := got[0]
	if rec.Path != "/echo?x=1" || rec.Flavour != "encrypted" {
		t.Errorf("path %q flavour %q", rec.Path, rec.Flavour)
	}
	want := `{"prompt": "h\u00e9llo", "big": 123456789012345678901234567890, "nonce": "`
	if !strings.HasPrefix(string(rec.Body), want) || !strings.HasSuffix(string(rec.Body), `", "f": 1.50}`) {
		t.Errorf("the miner got %s", rec.Body)
	}
	if string(a.body) != string(rec.Body) {
		t.Errorf("answer %s, want the echo %s", a.body, rec.Body)
	}
	inner := decodeJSON(t, rec.Body)["nonce"].(string)
	if inner == "mine" || inner == rec.Header.Get("nonce") {
		t.Errorf("inner nonce %q: want a fresh one of its own", inner)
	}
	if rec.Header.Get("X-Custom") != "kept" || rec.Header.Get("X-Fibergate-Mode") != "" {
		t.Errorf("headers at the miner: %v", rec.Header)
	}
	if rec.Header.Get("validator-hotkey") != ss58Of(r.validator) || rec.Header.Get("miner-hotkey") != ss58Of(r.minerKey) ||
		rec.Header.Get("nonce") == "forged" || len(rec.Header.Get("symmetric-key-uuid")) != 64 ||
		rec.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("Fiber headers at the miner: %v", rec.Header)
	}
	if n := r.miner.Exchanges(); n != 1 {
		t.Errorf("%d key exchanges, want 1", n)
	}
	// A second request uses the same key.
	if a := r.post(r.minerPath("/echo"), `{"a":1}`); a.status != 200 {
		t.Fatalf("second request: %d %s", a.status, a.body)
	}
	if n := r.miner.Exchanges(); n != 1 {
		t.Errorf("%d key exchanges after two requests, want 1", n)
	}
	if r.counter("fibergate_egress_handshakes_total", map[string]string{"result": "ok", "trigger": "new"}) != 1 ||
		r.counter("fibergate_egress_requests_total", map[string]string{"mode": "encrypted", "result": "ok"}) != 2 {
		t.Errorf("metrics do not count one exchange and two requests")
	}
}

// The miner is named three ways, and named badly, twice, or not at all is
// egress's own 400; unknown is 404.
func TestNamingTheMiner(t *testing.T) {
	r := newRig(t, rigOptions{static: []StaticMiner{{Hotkey: ss58Of(keypair(t, "idle")), Address: "http://127.0.0.1:1", UID: 9}}})
	miner := ss58Of(r.minerKey)
	for _, tc := range []struct {
		name, path string
		hdr        []string
		status     int
		code       string
	}{
		{"by hotkey", "/miner/" + miner + "/echo", nil, 200, ""},
		{"by uid", "/uid/7/echo", nil, 200, ""},
		{"by header hotkey", "/echo", []string{HeaderMiner, miner}, 200, ""},
		{"by header uid", "/echo", []string{HeaderMiner, "7"}, 200, ""},
		{"another prefix of the same key", "/miner/" + ss58For(r.minerKey.Public(), 0) + "/echo", nil, 200, ""},
		{"bad ss58", "/miner/5Fnotanaddress/echo", nil, 400, "bad_target"},
		{"bad uid", "/uid/x1/echo", nil, 400, "bad_target"},
		{"uid too large", "/uid/65536/echo", nil, 400, "bad_target"},
		{"bad header", "/echo", []string{HeaderMiner, "nope"}, 400, "bad_target"},
		{"twice", "/miner/" + miner + "/echo", []string{HeaderMiner, miner}, 400, "bad_target"},
		{"not at all", "/echo", nil, 400, "bad_target"},
		{"unknown hotkey", "/miner/" + ss58Of(keypair(t, "stranger")) + "/echo", nil, 404, "unknown_miner"},
		{"unknown uid", "/uid/8/echo", nil, 404, "unknown_miner"},
		{"bad mode", "/uid/7/echo", []string{HeaderMode, "loud"}, 400, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := r.post(tc.path, `{"a":1}`, tc.hdr...)
			if a.status != tc.status || a.code() != tc.code {
				t.Fatalf("got %d %q: %s; want %d %q", a.status, a.code(), a.body, tc.status, tc.code)
			}
			if tc.code != "" {
				b := decodeJSON(t, a.body)
				if b["error"] != tc.code || b["detail"] == "" {
					t.Errorf("body %s", a.body)
				}
			}
		})
	}
}

// 200 concurrent requests to a miner egress holds no key for cause exactly
// one exchange, counted by the miner; all are served.
func TestOneExchangeForConcurrentRequests(t *testing.T) {
	r := newRig(t, rigOptions{})
	const n = 200
	var wg sync.WaitGroup
	answers := make([]answer, n)
	for i := range n {
		wg.Go(func() { answers[i] = r.post(r.minerPath("/echo"), `{"i":1}`) })
	}
	wg.Wait()
	for i, a := range answers {
		if a.status != 200 {
			t.Fatalf("request %d: %d %s", i, a.status, a.body)
		}
	}
	if got := r.miner.Exchanges(); got != 1 {
		t.Errorf("the miner saw %d exchanges, want exactly 1", got)
	}
	if got := r.miner.Requests(); got != n {
		t.Errorf("the miner served %d requests, want %d", got, n)
	}
}

// A miner that restarts (a fresh RSA key, no keys) answers the next request
// with Fiber's 400 unknown key: egress exchanges anew and sends it again,
// so the caller sees nothing of it.
func TestMinerRestartCostsNothing(t *testing.T) {
	r := newRig(t, rigOptions{})
	if a := r.post(r.minerPath("/echo"), `{"a":1}`); a.status != 200 {
		t.Fatalf("first: %d %s", a.status, a.body)
	}
	if err := r.miner.Restart(); err != nil {
		t.Fatal(err)
	}
	a := r.post(r.minerPath("/echo"), `{"a":2}`)
	if a.status != 200 || !strings.Contains(string(a.body), `"a":2`) {
		t.Fatalf("after the restart: %d %s", a.status, a.body)
	}
	if got := r.miner.Exchanges(); got != 1 {
		t.Errorf("the restarted miner saw %d exchanges, want 1", got)
	}
	if got := r.counter("fibergate_egress_handshakes_total", map[string]string{"result": "ok", "trigger": "unknown_key"}); got != 1 {
		t.Errorf("handshakes{trigger=unknown_key}: %v, want 1", got)
	}
}

// A miner's refusals are relayed as the miner's own: the exchange's 403
// (stake) with Fiber's body and no X-Fibergate-Error; a request the miner
// refuses (FastAPI's 422 for a missing header, here a signed request to an
// encrypted endpoint) likewise.
func TestMinerRefusalsRelayed(t *testing.T) {
	r := newRig(t, rigOptions{miner: func(o *fibertest.Options) { o.MinStake = 1e9 }})
	a := r.post(r.minerPath("/echo"), `{"a":1}`)
	if a.status != 403 || a.code() != "" || !strings.Contains(string(a.body), "Insufficient stake") {
		t.Errorf("stake refusal: got %d %q %s", a.status, a.code(), a.body)
	}
	if r.counter("fibergate_egress_handshakes_total", map[string]string{"result": "refused", "trigger": "new"}) != 1 {
		t.Error("the refused exchange is not counted")
	}

	r = newRig(t, rigOptions{})
	a = r.post(r.minerPath("/echo"), `{"a":1}`, HeaderMode, "signed")
	if a.status != 422 || a.code() != "" || !strings.Contains(string(a.body), `"loc":["header","symmetric-key-uuid"]`) {
		t.Errorf("422: got %d %q %s", a.status, a.code(), a.body)
	}
	if r.counter("fibergate_egress_requests_total", map[string]string{"mode": "signed", "result": "miner_refused"}) != 1 {
		t.Error("the 422 is not counted as miner_refused")
	}
}

// Signed mode is Fiber's light flavour: no exchange, the body byte for
// byte with a signature over its hash; a GET signed over nonce and miner.
func TestSignedMode(t *testing.T) {
	r := newRig(t, rigOptions{egress: func(o *Options) { o.Routes = []Route{{Path: "/light/*", Mode: ModeSigned}} }})
	body := "{\"x\":  [1,2,3] ,\n \"nonce\":\"kept as it is\"}"
	a := r.post(r.minerPath("/light/echo"), body, "Content-Type", "application/json; charset=utf-8")
	if a.status != 200 || string(a.body) != body {
		t.Fatalf("signed POST: %d %q", a.status, a.body)
	}
	a = r.do(http.MethodGet, r.minerPath("/light/ping?q=2"), "")
	if a.status != 200 || !strings.Contains(string(a.body), `"query":"q=2"`) {
		t.Fatalf("signed GET: %d %s", a.status, a.body)
	}
	// The header overrides the route.
	a = r.post(r.minerPath("/light/echo"), "not json at all", HeaderMode, "signed", "Content-Type", "text/plain")
	if a.status != 200 || string(a.body) != "not json at all" {
		t.Fatalf("signed, not JSON: %d %q", a.status, a.body)
	}
	if n := r.miner.Exchanges(); n != 0 {
		t.Errorf("signed mode made %d exchanges", n)
	}
	rec := r.miner.Received()
	if len(rec) != 3 || rec[0].Flavour != "light" || rec[0].Header.Get("Content-Type") != "application/json; charset=utf-8" ||
		rec[0].Header.Get("symmetric-key-uuid") != "" {
		t.Errorf("received %+v", rec)
	}
}

// An encrypted GET is signed as Fiber 2.4 signs it, under the key.
func TestEncryptedGet(t *testing.T) {
	r := newRig(t, rigOptions{})
	a := r.do(http.MethodGet, r.minerPath("/status?v=1&w=%2F"), "")
	if a.status != 200 || !strings.Contains(string(a.body), `"query":"v=1&w=%2F"`) {
		t.Fatalf("got %d %s", a.status, a.body)
	}
	a = r.do(http.MethodGet, r.minerPath("/status"), "{}")
	if a.status != 400 || a.code() != "body_not_allowed" {
		t.Errorf("a GET with a body: %d %q", a.status, a.code())
	}
}

func TestInvalidJSONCostsNoExchange(t *testing.T) {
	r := newRig(t, rigOptions{})
	for _, b := range []string{`[1,2]`, `{"a":`, `"x"`, "{\"a\":\"\xff\"}", ``} {
		a := r.post(r.minerPath("/echo"), b)
		if a.status != 400 || a.code() != "invalid_json" {
			t.Errorf("body %q: got %d %q", b, a.status, a.code())
		}
	}
	if n := r.miner.Exchanges(); n != 0 {
		t.Errorf("%d exchanges for bad bodies", n)
	}
	if a := r.do(http.MethodPut, r.minerPath("/echo"), `{}`); a.status != 405 || a.code() != "method_not_allowed" || a.header.Get("Allow") != "GET, POST" {
		t.Errorf("PUT: %d %q %q", a.status, a.code(), a.header.Get("Allow"))
	}
}
