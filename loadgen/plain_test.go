package loadgen

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/nonce"
)

// TestPlainAgainstApp drives an echo app directly, with no Fiber server in
// front: plain mode needs no miner and no handshake, and the app must get
// exactly what an app behind fibergate gets for an encrypted request (the
// padded payload with a fresh inner nonce, as application/json), with no
// Fiber header.
func TestPlainAgainstApp(t *testing.T) {
	app := startEcho(t, 0, nil)
	res := run(t, Options{
		URL: app.URL, Plain: true, Concurrency: 8, Duration: time.Second, Warmup: 200 * time.Millisecond,
		Payload: []byte(`{"prompt": "bench"}`), Size: 300, CheckEcho: true,
	})
	checkAllOK(t, res)
	if res.Mode != ModePlain || res.Loop != LoopClosed || res.Target != app.URL+DefaultPath {
		t.Errorf("mode, loop, target: got %s, %s, %s; want %s, %s, %s", res.Mode, res.Loop, res.Target, ModePlain, LoopClosed, app.URL+DefaultPath)
	}
	if res.Setup.Handshakes != 0 || res.Setup.WarmupOps == 0 || res.Signing.Ahead == 0 || res.Validators != 0 {
		t.Errorf("setup %+v, signing %+v, validators %d: want no handshake, a warmup, requests made ahead and no validators",
			res.Setup, res.Signing, res.Validators)
	}

	got := app.requests()
	if want := res.Setup.WarmupOps + res.Ops; int64(len(got)) != want {
		t.Fatalf("the app got %d requests, want %d (warmup %d + measured %d)", len(got), want, res.Setup.WarmupOps, res.Ops)
	}
	seen := map[string]bool{}
	for i, r := range got {
		var p struct {
			Prompt string  `json:"prompt"`
			Pad    *string `json:"pad"`
			Nonce  string  `json:"nonce"`
		}
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatalf("request %d: the app got %q: %v", i, r.body, err)
		}
		if p.Prompt != "bench" || p.Pad == nil || len(r.body) < 300 {
			t.Errorf("request %d: got %q, want the payload padded to at least 300 bytes", i, r.body)
		}
		if _, err := nonce.Parse([]byte(p.Nonce)); err != nil {
			t.Errorf("request %d: inner nonce %q: %v", i, p.Nonce, err)
		}
		if seen[p.Nonce] {
			t.Errorf("request %d: inner nonce %q sent twice", i, p.Nonce)
		}
		seen[p.Nonce] = true
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("request %d: Content-Type %q, want application/json", i, ct)
		}
		for k := range r.header {
			switch lk := strings.ToLower(k); lk {
			case "miner-hotkey", "validator-hotkey", "symmetric-key-uuid", "nonce", "signature", "x-fiber-response-encryption":
				t.Errorf("request %d: carries the Fiber header %s", i, k)
			}
		}
	}
}

// TestPlainSameBodyAsEncrypted checks that plain mode hands the app the
// same body, byte for byte apart from the nonce, as an encrypted request
// through a Fiber server: the comparison of the two is then fair.
func TestPlainSameBodyAsEncrypted(t *testing.T) {
	tg := startTarget(t, targetOptions{validators: 1})
	opts := Options{Validators: 1, Concurrency: 1, Rate: 20, Duration: 250 * time.Millisecond, Size: 256}
	enc := opts
	enc.URL, enc.Miner = tg.URL, bobSS58
	checkAllOK(t, run(t, enc))
	plain := opts
	plain.URL, plain.Plain = tg.App.URL, true
	checkAllOK(t, run(t, plain))

	got := tg.App.requests()
	if len(got) != 10 {
		t.Fatalf("the app got %d requests, want 5 encrypted and 5 plain", len(got))
	}
	// Blank out the nonces: what is left must be the same text.
	shape := func(b []byte) string {
		var p map[string]any
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("the app got %q: %v", b, err)
		}
		n, _ := p["nonce"].(string)
		if n == "" {
			t.Fatalf("the app got %q, want a nonce field", b)
		}
		return strings.Replace(string(b), n, "NONCE", 1)
	}
	want := shape(got[0].body)
	for i, r := range got {
		if s := shape(r.body); s != want {
			t.Errorf("request %d (%s): got body %q, want %q", i, map[bool]string{true: "encrypted", false: "plain"}[i < 5], s, want)
		}
	}
}

func TestPlainFixedRateAndEchoCheck(t *testing.T) {
	tests := []struct {
		name     string
		answer   []byte
		wantCode string
	}{
		{"echo", nil, ""},
		{"an answer that is no echo", []byte(`{"ok": true}`), "client_echo_mismatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app := startEcho(t, 0, tc.answer)
			const rate = 100
			res := run(t, Options{URL: app.URL, Plain: true, Concurrency: 4, Rate: rate, Duration: time.Second, CheckEcho: true})
			if res.Loop != LoopFixedRate || res.Ops != rate || res.Dropped != 0 {
				t.Errorf("got %s, %d sent, %d dropped; want fixed rate, %d sent", res.Loop, res.Ops, res.Dropped, rate)
			}
			if tc.wantCode == "" {
				checkAllOK(t, res)
				return
			}
			if res.OK != 0 || res.Codes[tc.wantCode] != res.Ops || res.Statuses[200] != res.Ops {
				t.Errorf("got %d ok of %d, statuses %v, codes %v; want every answer 200 and refused as %s",
					res.OK, res.Ops, res.Statuses, res.Codes, tc.wantCode)
			}
		})
	}
}

// TestPlainCountsRefusals points plain mode at a Fiber server, which must
// refuse requests without Fiber headers: each refusal is an error with its
// code, not a success.
func TestPlainCountsRefusals(t *testing.T) {
	tg := startTarget(t, targetOptions{validators: 1})
	res := run(t, Options{URL: tg.URL, Plain: true, Concurrency: 2, Rate: 20, Duration: 500 * time.Millisecond})
	if res.Ops != 10 || res.OK != 0 || res.Errors != 10 || res.Statuses[422] != 10 || res.Codes["missing_header"] != 10 {
		t.Errorf("got %d ok, %d errors of %d, statuses %v, codes %v; want 10 refused 422 missing_header",
			res.OK, res.Errors, res.Ops, res.Statuses, res.Codes)
	}
	if n := len(tg.App.requests()); n != 0 {
		t.Errorf("the app got %d requests, want none", n)
	}
}
