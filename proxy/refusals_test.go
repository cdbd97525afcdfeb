package proxy_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/proxy"
)

// TestRefusals sends every kind of bad input named in the protocol and the
// design, and checks each gets its status and stable code, and that the app
// never sees any of them.
func TestRefusals(t *testing.T) {
	up := startUpstream(t)
	alice := aliceKeypair(t)
	poor, _ := sr25519.KeypairFromSeed(mustSeed("0x0101010101010101010101010101010101010101010101010101010101010101"))
	stranger, _ := sr25519.KeypairFromSeed(mustSeed("0x0202020202020202020202020202020202020202020202020202020202020202"))
	g := startGate(t, gateOptions{
		upstream:   up.URL,
		validators: stakeTable{alice.Public(): 5000, poor.Public(): 10},
		maxBody:    64 << 10,
		routes:     []proxy.Route{{Path: "/signed", Mode: proxy.ModeSigned}},
	})
	c := newClient(t, g, aliceSeed)
	if err := c.Handshake(context.Background()); err != nil {
		t.Fatal(err)
	}
	key, uuid := c.Key()
	now := func() time.Time { return g.Clock.Now() }
	aliceAddr := ss58.Encode(alice.Public(), ss58.Bittensor)

	// encReq builds a valid encrypted request; mutate adjusts it.
	type req struct {
		method, path string
		h            http.Header
		body         []byte
	}
	encReq := func(signer *sr25519.Keypair, n, inner string) req {
		h := signedHeaders(t, signer, n, g.Miner, uuid)
		h["symmetric-key-uuid"] = []string{uuid}
		h["content-type"] = []string{"application/octet-stream"}
		return req{"POST", "/echo", h, encryptBody(t, key, `{"q": 1, "nonce": "`+inner+`"}`, now())}
	}
	exReq := func(signer *sr25519.Keypair, n string, wrapped string) req {
		h := signedHeaders(t, signer, n, g.Miner, uuid)
		h["symmetric-key-uuid"] = []string{uuid}
		h["content-type"] = []string{"application/json"}
		return req{"POST", "/exchange-symmetric-key", h, []byte(`{"encrypted_symmetric_key": "` + wrapped + `"}`)}
	}
	wrap := func(plain []byte) string {
		ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &g.RSA.PublicKey, plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(ct)
	}
	goodWrapped := func() string {
		var k [32]byte
		rand.Read(k[:])
		ct, err := rsakey.EncryptSymmetricKey(&g.RSA.PublicKey, k, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(ct)
	}
	fresh := func() string { return freshNonce(now()) }
	at := func(d time.Duration) string { return freshNonce(now().Add(d)) }

	// A request that was accepted once, for the replay cases.
	accepted := encReq(alice, fresh(), fresh())
	if status, _, body := rawRequest(t, accepted.method, g.URL+accepted.path, accepted.h, accepted.body); status != 200 {
		t.Fatalf("the valid request was refused: %d %s", status, body)
	}
	goroutineGuard(t)             // the pools are warm: a request has gone through
	acceptedInner := func() req { // new header nonce, same body: the inner nonce is replayed
		r := encReq(alice, fresh(), "x")
		r.body = accepted.body
		return r
	}

	cases := []struct {
		name   string
		make   func() req
		status int
		code   string
	}{
		{"unknown validator", func() req { return encReq(stranger, fresh(), fresh()) }, 403, "unknown_validator"},
		{"stake below minimum", func() req { return encReq(poor, fresh(), fresh()) }, 403, "insufficient_stake"},
		{"hotkey not SS58", func() req {
			r := encReq(alice, fresh(), fresh())
			r.h["validator-hotkey"] = []string{"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ"}
			return r
		}, 403, "invalid_hotkey"},
		{"nonce not a number", func() req { return encReq(alice, "soon_abc", fresh()) }, 401, "nonce_malformed"},
		{"nonce too old", func() req { return encReq(alice, at(-121*time.Second), fresh()) }, 401, "nonce_expired"},
		{"nonce too new", func() req { return encReq(alice, at(121*time.Second), fresh()) }, 401, "nonce_future"},
		{"nonce replayed", func() req { return accepted }, 401, "nonce_replayed"},
		{"signature over another message", func() req {
			r := encReq(alice, fresh(), fresh())
			r.h["signature"] = signedHeaders(t, alice, fresh(), g.Miner, uuid)["signature"]
			return r
		}, 401, "signature_invalid"},
		{"signature by another key", func() req {
			r := encReq(alice, fresh(), fresh())
			n := r.h["nonce"][0]
			r.h["signature"] = signedHeaders(t, poor, n, g.Miner, uuid)["signature"]
			return r
		}, 401, "signature_invalid"},
		{"signature too short", func() req {
			r := encReq(alice, fresh(), fresh())
			r.h["signature"] = []string{r.h["signature"][0][:128]}
			return r
		}, 401, "signature_malformed"},
		{"signature not hex", func() req {
			r := encReq(alice, fresh(), fresh())
			r.h["signature"] = []string{"0x" + strings.Repeat("zz", 64)}
			return r
		}, 401, "signature_malformed"},
		{"another miner's hotkey", func() req {
			n := fresh()
			h := signedHeaders(t, alice, n, aliceAddr, uuid)
			h["symmetric-key-uuid"] = []string{uuid}
			return req{"POST", "/echo", h, encryptBody(t, key, `{"nonce": "`+fresh()+`"}`, now())}
		}, 401, "wrong_miner"},
		{"unknown uuid", func() req {
			n := fresh()
			h := signedHeaders(t, alice, n, g.Miner, "feed")
			h["symmetric-key-uuid"] = []string{"feed"}
			return req{"POST", "/echo", h, encryptBody(t, key, `{"nonce": "`+fresh()+`"}`, now())}
		}, 400, "unknown_key"},
		{"tampered token", func() req {
			r := encReq(alice, fresh(), fresh())
			r.body[40] ^= 1
			return r
		}, 400, "token_invalid"},
		{"body is not a token", func() req {
			r := encReq(alice, fresh(), fresh())
			r.body = []byte(`{"plain": "json"}`)
			return r
		}, 400, "token_invalid"},
		{"stale token", func() req {
			r := encReq(alice, fresh(), fresh())
			r.body = encryptBody(t, key, `{"nonce": "`+fresh()+`"}`, now().Add(-121*time.Second))
			return r
		}, 401, "token_expired"},
		{"token from the future", func() req {
			r := encReq(alice, fresh(), fresh())
			r.body = encryptBody(t, key, `{"nonce": "`+fresh()+`"}`, now().Add(121*time.Second))
			return r
		}, 401, "token_future"},
		{"inner nonce replayed", acceptedInner, 401, "body_nonce_replayed"},
		{"inner nonce missing", func() req {
			r := encReq(alice, fresh(), fresh())
			r.body = encryptBody(t, key, `{"q": 1}`, now())
			return r
		}, 400, "body_nonce_missing"},
		{"inner nonce malformed", func() req { return encReq(alice, fresh(), "later") }, 400, "body_nonce_malformed"},
		{"decrypted body not JSON", func() req {
			r := encReq(alice, fresh(), fresh())
			r.body = encryptBody(t, key, `{"nonce": "`+fresh()+`"`, now())
			return r
		}, 400, "invalid_json"},
		{"missing validator-hotkey", func() req {
			r := encReq(alice, fresh(), fresh())
			delete(r.h, "validator-hotkey")
			return r
		}, 422, "missing_header"},
		{"missing nonce", func() req {
			r := encReq(alice, fresh(), fresh())
			delete(r.h, "nonce")
			return r
		}, 422, "missing_header"},
		{"missing signature", func() req {
			r := encReq(alice, fresh(), fresh())
			delete(r.h, "signature")
			return r
		}, 422, "missing_header"},
		{"missing uuid", func() req {
			r := encReq(alice, fresh(), fresh())
			delete(r.h, "symmetric-key-uuid")
			return r
		}, 422, "missing_header"},
		{"duplicate nonce header", func() req {
			r := encReq(alice, fresh(), fresh())
			r.h["Nonce"] = []string{fresh()}
			return r
		}, 400, "duplicate_header"},
		// A body over limits.max_body is refused before anything else looks
		// at it; TestAdversarialWire covers it on the wire, where the
		// client need not race the server closing the connection.
		{"signed mode, body changed", func() req {
			h := signedHeaders(t, alice, fresh(), g.Miner, hashHex([]byte(`{"a":1}`)))
			return req{"POST", "/signed", h, []byte(`{"a":2}`)}
		}, 401, "signature_invalid"},
		// The exchange endpoint.
		{"exchange: unknown validator", func() req { return exReq(stranger, fresh(), goodWrapped()) }, 403, "unknown_validator"},
		{"exchange: low stake", func() req { return exReq(poor, fresh(), goodWrapped()) }, 403, "insufficient_stake"},
		{"exchange: old nonce", func() req { return exReq(alice, at(-200*time.Second), goodWrapped()) }, 401, "nonce_expired"},
		{"exchange: bad signature", func() req {
			r := exReq(alice, fresh(), goodWrapped())
			r.h["signature"] = []string{"0x" + strings.Repeat("00", 64)}
			return r
		}, 401, "signature_invalid"},
		{"exchange: wrong miner", func() req {
			h := signedHeaders(t, alice, fresh(), aliceAddr, uuid)
			h["symmetric-key-uuid"] = []string{uuid}
			return req{"POST", "/exchange-symmetric-key", h, []byte(`{"encrypted_symmetric_key": "` + goodWrapped() + `"}`)}
		}, 401, "wrong_miner"},
		{"exchange: bad base64", func() req { return exReq(alice, fresh(), "not base64!") }, 400, "invalid_base64"},
		{"exchange: key of 16 bytes", func() req { return exReq(alice, fresh(), wrap(make([]byte, 16))) }, 401, "key_decrypt_failed"},
		{"exchange: ciphertext for another key", func() req {
			other, _ := rsakey.Generate(2048, rand.Reader)
			var k [32]byte
			ct, _ := rsakey.EncryptSymmetricKey(&other.PublicKey, k, rand.Reader)
			return exReq(alice, fresh(), base64.StdEncoding.EncodeToString(ct))
		}, 401, "key_decrypt_failed"},
		{"exchange: body not JSON", func() req {
			r := exReq(alice, fresh(), "")
			r.body = []byte("encrypted_symmetric_key=abc")
			return r
		}, 422, "invalid_body"},
		{"exchange: field missing", func() req {
			r := exReq(alice, fresh(), "")
			r.body = []byte(`{"key": "abc"}`)
			return r
		}, 422, "invalid_body"},
		{"exchange: missing uuid", func() req {
			r := exReq(alice, fresh(), goodWrapped())
			delete(r.h, "symmetric-key-uuid")
			return r
		}, 422, "missing_header"},
		{"exchange: GET", func() req { return req{"GET", "/exchange-symmetric-key", nil, nil} }, 405, "method_not_allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.make()
			before := len(up.requests())
			status, _, body := rawRequest(t, r.method, g.URL+r.path, r.h, r.body)
			if status != tc.status || errorCode(body) != tc.code {
				t.Errorf("got %d %s, want %d %s", status, body, tc.status, tc.code)
			}
			if n := len(up.requests()) - before; n != 0 {
				t.Errorf("the app received %d requests for a refused one", n)
			}
		})
	}
}

// TestNonceHoleClosed replays a request whose nonce is stamped 119 s in the
// future: Fiber forgets it 120 s after first sight while its time is still in
// the window, so it could be replayed; fibergate must refuse it for as long
// as the nonce could be accepted at all.
func TestNonceHoleClosed(t *testing.T) {
	up := startUpstream(t)
	g := startGate(t, gateOptions{upstream: up.URL})
	alice := aliceKeypair(t)
	c := newClient(t, g, aliceSeed)
	if err := c.Handshake(context.Background()); err != nil {
		t.Fatal(err)
	}
	key, uuid := c.Key()
	start := g.Clock.Now()
	n := freshNonce(start.Add(119 * time.Second))
	h := signedHeaders(t, alice, n, g.Miner, uuid)
	h["symmetric-key-uuid"] = []string{uuid}
	// The body goes through the proxy's "GET" path (no token), so only the
	// header nonce is at stake.
	status, _, body := rawRequest(t, "GET", g.URL+"/x", h, nil)
	if status != 200 {
		t.Fatalf("first use: got %d %s", status, body)
	}
	for _, after := range []time.Duration{1 * time.Second, 121 * time.Second, 200 * time.Second, 238 * time.Second} {
		g.Clock.Set(start.Add(after))
		g.Nonces.Sweep(g.Clock.Now().UnixNano())
		status, _, body := rawRequest(t, "GET", g.URL+"/x", h, nil)
		if status != 401 || errorCode(body) != "nonce_replayed" {
			t.Errorf("replay %v after first use: got %d %s, want 401 nonce_replayed", after, status, body)
		}
	}
	g.Clock.Set(start.Add(240*time.Second + time.Millisecond))
	status, _, body = rawRequest(t, "GET", g.URL+"/x", h, nil)
	if status != 401 || errorCode(body) != "nonce_expired" {
		t.Errorf("after the nonce left the window: got %d %s, want 401 nonce_expired", status, body)
	}
	_ = key
}
