package proxy_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"testing"

	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/crypto/ss58"
)

// TestLegacyExchange runs the handshake of Fiber's original design (all in
// the body, hotkey header, signature over canonical JSON), with the
// signature as a header and as a body field, and then uses the key.
func TestLegacyExchange(t *testing.T) {
	up := startUpstream(t)
	g := startGate(t, gateOptions{upstream: up.URL})
	alice := aliceKeypair(t)
	addr := ss58.Encode(alice.Public(), ss58.Bittensor)

	exchange := func(t *testing.T, sigInBody bool, mutate func(ts *float64, n *string)) (int, []byte, *fernet.Key, string) {
		t.Helper()
		var raw, id [32]byte
		rand.Read(raw[:])
		rand.Read(id[:])
		uuid := hex.EncodeToString(id[:])
		ct, err := rsakey.EncryptSymmetricKey(&g.RSA.PublicKey, raw, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		ts := float64(g.Clock.Now().UnixMicro()) / 1e6
		n := freshNonce(g.Clock.Now())
		if mutate != nil {
			mutate(&ts, &n)
		}
		wrapped := base64.StdEncoding.EncodeToString(ct)
		// Canonical JSON: keys sorted, no spaces; every value here is ASCII.
		canonical := fmt.Sprintf(`{"encrypted_symmetric_key":%q,"nonce":%q,"ss58_address":%q,"symmetric_key_uuid":%q,"timestamp":%s}`,
			wrapped, n, addr, uuid, pyFloat(ts))
		sig, err := alice.Sign([]byte(canonical), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		sigHex := "0x" + hex.EncodeToString(sig[:])
		h := http.Header{"hotkey": {addr}, "Content-Type": {"application/json"}}
		body := fmt.Sprintf(`{"ss58_address": %q, "symmetric_key_uuid": %q, "encrypted_symmetric_key": %q, "timestamp": %s, "nonce": %q`,
			addr, uuid, wrapped, pyFloat(ts), n)
		if sigInBody {
			body += fmt.Sprintf(`, "signature": %q}`, sigHex)
		} else {
			body += "}"
			h["signature"] = []string{sigHex}
		}
		status, _, resp := rawRequest(t, "POST", g.URL+"/exchange-symmetric-key", h, []byte(body))
		key, _ := fernet.NewKey(raw[:])
		return status, resp, key, uuid
	}

	for _, inBody := range []bool{false, true} {
		t.Run(fmt.Sprintf("signature in body %v", inBody), func(t *testing.T) {
			status, body, key, uuid := exchange(t, inBody, nil)
			if status != 200 {
				t.Fatalf("got %d %s, want 200", status, body)
			}
			e, err := g.Keys.Get(alice.Public(), []byte(uuid), g.Clock.Now())
			if err != nil || e.Key.Raw() != key.Raw() {
				t.Fatalf("the exchanged key was not stored under (alice, uuid)")
			}
		})
	}
	t.Run("stale timestamp", func(t *testing.T) {
		status, body, _, _ := exchange(t, false, func(ts *float64, n *string) { *ts -= 200 })
		if status != 401 || errorCode(body) != "nonce_expired" {
			t.Errorf("got %d %s, want 401 nonce_expired", status, body)
		}
	})
	t.Run("replayed nonce", func(t *testing.T) {
		n := freshNonce(g.Clock.Now())
		if status, body, _, _ := exchange(t, false, func(_ *float64, nn *string) { *nn = n }); status != 200 {
			t.Fatalf("first: got %d %s", status, body)
		}
		status, body, _, _ := exchange(t, false, func(_ *float64, nn *string) { *nn = n })
		if status != 401 || errorCode(body) != "nonce_replayed" {
			t.Errorf("got %d %s, want 401 nonce_replayed", status, body)
		}
	})
	t.Run("body names another validator", func(t *testing.T) {
		h := http.Header{"hotkey": {bobSS58}, "signature": {"0x" + hex.EncodeToString(make([]byte, 64))}}
		status, body, _ := rawRequest(t, "POST", g.URL+"/exchange-symmetric-key", h,
			[]byte(fmt.Sprintf(`{"ss58_address": %q, "symmetric_key_uuid": "u", "encrypted_symmetric_key": "", "timestamp": 1, "nonce": "n"}`, addr)))
		if status < 400 || status >= 500 {
			t.Errorf("got %d %s, want a 4xx", status, body)
		}
	})
	t.Run("the key works for encrypted requests", func(t *testing.T) {
		_, _, key, uuid := exchange(t, false, nil)
		h := signedHeaders(t, alice, freshNonce(g.Clock.Now()), g.Miner, uuid)
		h["symmetric-key-uuid"] = []string{uuid}
		status, _, body := rawRequest(t, "POST", g.URL+"/echo", h,
			encryptBody(t, key, `{"nonce": "`+freshNonce(g.Clock.Now())+`", "legacy": true}`, g.Clock.Now()))
		if status != 200 {
			t.Fatalf("got %d %s", status, body)
		}
	})
}

// pyFloat formats f as Python's repr does for the timestamps used here
// (positional, at least one decimal).
func pyFloat(f float64) string {
	s := fmt.Sprintf("%.6f", f)
	for len(s) > 0 && s[len(s)-1] == '0' && s[len(s)-2] != '.' {
		s = s[:len(s)-1]
	}
	return s
}
