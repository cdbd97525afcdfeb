package proxy_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"testing"

	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/crypto/sr25519"
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

	exchange := func(t *testing.T, form legacyForm, mutate func(ts *float64, n *string)) (int, []byte, *fernet.Key, string) {
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
		switch form {
		case sigHeader:
			body += "}"
			h["signature"] = []string{sigHex}
		case sigField:
			body += fmt.Sprintf(`, "signature": %q}`, sigHex)
		case noHeaders:
			body += fmt.Sprintf(`, "signature": %q}`, sigHex)
			delete(h, "hotkey")
		}
		status, _, resp := rawRequest(t, "POST", g.URL+"/exchange-symmetric-key", h, []byte(body))
		key, _ := fernet.NewKey(raw[:])
		return status, resp, key, uuid
	}

	for _, form := range []legacyForm{sigHeader, sigField, noHeaders} {
		t.Run(form.String(), func(t *testing.T) {
			status, body, key, uuid := exchange(t, form, nil)
			if status != 200 {
				t.Fatalf("got %d %s, want 200", status, body)
			}
			e, err := g.Keys.Get(alice.Public(), []byte(uuid), g.Clock.Now())
			if err != nil || e.Key.Raw() != key.Raw() {
				t.Fatalf("the exchanged key was not stored under (alice, uuid)")
			}
		})
		t.Run(form.String()+"/stale timestamp", func(t *testing.T) {
			status, body, _, _ := exchange(t, form, func(ts *float64, n *string) { *ts -= 200 })
			if status != 401 || errorCode(body) != "nonce_expired" {
				t.Errorf("got %d %s, want 401 nonce_expired", status, body)
			}
		})
		t.Run(form.String()+"/replayed nonce", func(t *testing.T) {
			n := freshNonce(g.Clock.Now())
			if status, body, _, _ := exchange(t, form, func(_ *float64, nn *string) { *nn = n }); status != 200 {
				t.Fatalf("first: got %d %s", status, body)
			}
			status, body, _, _ := exchange(t, form, func(_ *float64, nn *string) { *nn = n })
			if status != 401 || errorCode(body) != "nonce_replayed" {
				t.Errorf("got %d %s, want 401 nonce_replayed", status, body)
			}
		})
	}
	t.Run("body names another validator", func(t *testing.T) {
		h := http.Header{"hotkey": {bobSS58}, "signature": {"0x" + hex.EncodeToString(make([]byte, 64))}}
		status, body, _ := rawRequest(t, "POST", g.URL+"/exchange-symmetric-key", h,
			[]byte(fmt.Sprintf(`{"ss58_address": %q, "symmetric_key_uuid": "u", "encrypted_symmetric_key": "", "timestamp": 1, "nonce": "n"}`, addr)))
		if status < 400 || status >= 500 {
			t.Errorf("got %d %s, want a 4xx", status, body)
		}
	})
	t.Run("the key works for encrypted requests", func(t *testing.T) {
		_, _, key, uuid := exchange(t, noHeaders, nil)
		h := signedHeaders(t, alice, freshNonce(g.Clock.Now()), g.Miner, uuid)
		h["symmetric-key-uuid"] = []string{uuid}
		status, _, body := rawRequest(t, "POST", g.URL+"/echo", h,
			encryptBody(t, key, `{"nonce": "`+freshNonce(g.Clock.Now())+`", "legacy": true}`, g.Clock.Now()))
		if status != 200 {
			t.Fatalf("got %d %s", status, body)
		}
	})
}

// legacyForm is how the earlier handshake names its validator and carries
// its signature.
type legacyForm int

const (
	sigHeader legacyForm = iota // hotkey and signature headers
	sigField                    // hotkey header, signature as a body field
	noHeaders                   // no Fiber header at all: the body names the validator
)

func (f legacyForm) String() string {
	return [...]string{"signature header", "signature field", "no headers"}[f]
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

// TestLegacyExchangeNoHeaders: the earlier handshake as its first client
// sent it, with no header at all, gets every check of the header forms.
func TestLegacyExchangeNoHeaders(t *testing.T) {
	up := startUpstream(t)
	alice := aliceKeypair(t)
	low, _ := sr25519.KeypairFromSeed(mustSeed("0x0404040404040404040404040404040404040404040404040404040404040404"))
	stranger, _ := sr25519.KeypairFromSeed(mustSeed("0x0505050505050505050505050505050505050505050505050505050505050505"))
	g := startGate(t, gateOptions{upstream: up.URL, validators: stakeTable{alice.Public(): 5000, low.Public(): 10}})

	// post sends the body-only exchange naming addr, signed by signer;
	// keyLen is the length of the wrapped key.
	post := func(signer *sr25519.Keypair, addr string, keyLen int, withSig bool) (int, string) {
		raw := make([]byte, keyLen)
		rand.Read(raw)
		ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &g.RSA.PublicKey, raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		wrapped := base64.StdEncoding.EncodeToString(ct)
		ts := pyFloat(float64(g.Clock.Now().UnixMicro()) / 1e6)
		n := freshNonce(g.Clock.Now())
		canonical := fmt.Sprintf(`{"encrypted_symmetric_key":%q,"nonce":%q,"ss58_address":%q,"symmetric_key_uuid":"u1","timestamp":%s}`, wrapped, n, addr, ts)
		sig, _ := signer.Sign([]byte(canonical), rand.Reader)
		body := fmt.Sprintf(`{"encrypted_symmetric_key": %q, "symmetric_key_uuid": "u1", "ss58_address": %q, "timestamp": %s, "nonce": %q`, wrapped, addr, ts, n)
		if withSig {
			body += fmt.Sprintf(`, "signature": "0x%s"`, hex.EncodeToString(sig[:]))
		}
		status, _, resp := rawRequest(t, "POST", g.URL+"/exchange-symmetric-key", http.Header{"Content-Type": {"application/json"}}, []byte(body+"}"))
		return status, errorCode(resp)
	}
	addr := func(kp *sr25519.Keypair) string { return ss58.Encode(kp.Public(), ss58.Bittensor) }
	for _, c := range []struct {
		name   string
		signer *sr25519.Keypair
		addr   string
		keyLen int
		sig    bool
		status int
		code   string
	}{
		{"accepted", alice, addr(alice), 32, true, 200, ""},
		{"signed by another key", stranger, addr(alice), 32, true, 401, "signature_invalid"},
		{"names an unknown hotkey", stranger, addr(stranger), 32, true, 403, "unknown_validator"},
		{"too little stake", low, addr(low), 32, true, 403, "insufficient_stake"},
		{"a key of the wrong size", alice, addr(alice), 16, true, 401, "key_decrypt_failed"},
		{"no signature anywhere", alice, addr(alice), 32, false, 422, "missing_header"},
		{"ss58_address not an address", alice, "not-an-address", 32, true, 403, "invalid_hotkey"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, code := post(c.signer, c.addr, c.keyLen, c.sig)
			if status != c.status || code != c.code {
				t.Errorf("got %d %q, want %d %q", status, code, c.status, c.code)
			}
		})
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the app got %d requests", n)
	}
}
