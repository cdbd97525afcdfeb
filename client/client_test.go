package client

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/nonce"
)

func TestWithNonce(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"prompt": "hi"}`, `{"prompt": "hi", "nonce": "1_a"}`},
		{` { } `, `{"nonce": "1_a"}`},
		{`{"a":{"b":[1,2]}}`, `{"a":{"b":[1,2]}, "nonce": "1_a"}`},
	}
	for _, tc := range cases {
		got, err := WithNonce([]byte(tc.in), "1_a")
		if err != nil || string(got) != tc.want {
			t.Errorf("WithNonce(%q): got %q, %v; want %q", tc.in, got, err, tc.want)
		}
		var v map[string]any
		if err := json.Unmarshal(got, &v); err != nil || v["nonce"] != "1_a" {
			t.Errorf("WithNonce(%q) = %q: not JSON with the nonce (%v)", tc.in, got, err)
		}
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{`, `null`} {
		if _, err := WithNonce([]byte(bad), "1_a"); err == nil {
			t.Errorf("WithNonce(%q): got no error for a non-object", bad)
		}
	}
}

func TestParseError(t *testing.T) {
	e := parseError(400, []byte(`{"detail":"No symmetric key found for that hotkey and uuid","error":"unknown_key","requires_handshake":true}`))
	if e.Status != 400 || e.Code != "unknown_key" || !e.RequiresHandshake || !strings.Contains(e.Error(), "unknown_key") {
		t.Errorf("fibergate error: got %+v", e)
	}
	// FastAPI's validation errors carry a list as detail.
	e = parseError(422, []byte(`{"detail":[{"loc":["header","nonce"],"msg":"field required"}]}`))
	if e.Status != 422 || e.Code != "" || !strings.Contains(e.Detail, "field required") {
		t.Errorf("FastAPI error: got %+v", e)
	}
	e = parseError(502, []byte("Bad Gateway\n"))
	if e.Detail != "Bad Gateway" {
		t.Errorf("plain-text error: got %+v", e)
	}
}

func TestNonceFormat(t *testing.T) {
	n, err := Nonce(timeAt(1795640127895945628), strings.NewReader(strings.Repeat("\x00\x01\x3d\xff", 4)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(n, "1795640127895945628_") || len(n) != len("1795640127895945628_")+10 {
		t.Errorf("got %q, want <unix ns>_<10 letters or digits>", n)
	}
	if ts, err := nonce.Parse([]byte(n)); err != nil || ts != 1795640127895945628 {
		t.Errorf("%q parses to %d, %v", n, ts, err)
	}
	for _, r := range n[len("1795640127895945628_"):] {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			t.Errorf("suffix of %q has %q", n, r)
		}
	}
}

func timeAt(ns int64) time.Time { return time.Unix(0, ns) }
