package proxy_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/internal/redistest"
	"github.com/fibergate/fibergate/keystore"
	"github.com/fibergate/fibergate/proxy"
	"github.com/fibergate/fibergate/ratelimit"
	"github.com/fibergate/fibergate/replay"
)

// wireRequest is one request exactly as a validator sends it.
type wireRequest struct {
	method, path string
	header       http.Header
	body         []byte
}

// TestRetryAfter429 sends, for each kind of signed request, the very same
// request twice: first while the validator is over its limit (429), then
// after Retry-After's wait. The second must be served: a 429 must not have
// used up the nonce. With the memory replay guard and with Redis.
func TestRetryAfter429(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testRetryAfter429(t, nil) })
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t, redistest.Options{})
		c := keystore.NewRedisClient(keystore.RedisClientOptions{Addr: srv.Addr, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, PoolSize: 4})
		t.Cleanup(func() { c.Close() })
		g, err := replay.NewRedis(replay.RedisOptions{Client: c})
		if err != nil {
			t.Fatal(err)
		}
		// A Redis whose nonce floor was set long ago: a new one would hold
		// every nonce for its first 2 s.
		if err := c.Set(context.Background(), g.FloorKey(), "0", 0).Err(); err != nil {
			t.Fatal(err)
		}
		testRetryAfter429(t, g)
	})
}

func testRetryAfter429(t *testing.T, nonces proxy.ReplayGuard) {
	up := startUpstream(t)
	// A token every 500 ms: the first two requests of a case come well
	// within it, even on a loaded machine; the waits are longer.
	limit := ratelimit.Rate{PerSecond: 2, Burst: 1}
	g := startGate(t, gateOptions{
		upstream: up.URL,
		nonces:   nonces,
		routes: []proxy.Route{
			{Path: "/signed/*", Mode: proxy.ModeSigned},
			{Path: "/enc/*", Mode: proxy.ModeEncrypted, Response: proxy.ResponsePlain},
		},
		limits: proxy.RateLimits{PerValidator: limit, HandshakesPerValidator: limit},
	})
	kp := aliceKeypair(t)
	alice := ss58.Encode(kp.Public(), ss58.Bittensor)
	// A key for the encrypted kinds, exchanged before the limits matter.
	c := newClient(t, g, aliceSeed)
	if err := c.Handshake(context.Background()); err != nil {
		t.Fatal(err)
	}
	key, uuid := c.Key()
	time.Sleep(600 * time.Millisecond) // the handshake's token comes back

	wrappedKey := func() string {
		var raw [32]byte
		rand.Read(raw[:])
		ct, err := rsakey.EncryptSymmetricKey(&g.RSA.PublicKey, raw, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(ct)
	}
	kinds := map[string]func() wireRequest{
		"handshake": func() wireRequest {
			u := fmt.Sprintf("u-%d", nonceCounter.Add(1))
			h := signedHeaders(t, kp, freshNonce(g.Clock.Now()), g.Miner, u)
			h.Set("symmetric-key-uuid", u)
			return wireRequest{"POST", "/exchange-symmetric-key", h, []byte(`{"encrypted_symmetric_key": "` + wrappedKey() + `"}`)}
		},
		"earlier handshake": func() wireRequest {
			w, n := wrappedKey(), freshNonce(g.Clock.Now())
			ts := pyFloat(float64(g.Clock.Now().UnixMicro()) / 1e6)
			u := fmt.Sprintf("u-%d", nonceCounter.Add(1))
			canonical := fmt.Sprintf(`{"encrypted_symmetric_key":%q,"nonce":%q,"ss58_address":%q,"symmetric_key_uuid":%q,"timestamp":%s}`, w, n, alice, u, ts)
			sig, _ := kp.Sign([]byte(canonical), rand.Reader)
			body := fmt.Sprintf(`{"encrypted_symmetric_key": %q, "nonce": %q, "ss58_address": %q, "symmetric_key_uuid": %q, "timestamp": %s, "signature": "0x%s"}`,
				w, n, alice, u, ts, hex.EncodeToString(sig[:]))
			return wireRequest{"POST", "/exchange-symmetric-key", http.Header{"Content-Type": {"application/json"}}, []byte(body)}
		},
		"signed POST": func() wireRequest {
			body := []byte(`{"prompt":"x"}`)
			sum := sha256.Sum256(body)
			h := signedHeaders(t, kp, freshNonce(g.Clock.Now()), g.Miner, hex.EncodeToString(sum[:]))
			return wireRequest{"POST", "/signed/x", h, body}
		},
		"signed GET": func() wireRequest {
			return wireRequest{"GET", "/signed/x", signedHeaders(t, kp, freshNonce(g.Clock.Now()), g.Miner, ""), nil}
		},
		"encrypted GET": func() wireRequest {
			h := signedHeaders(t, kp, freshNonce(g.Clock.Now()), g.Miner, uuid)
			h.Set("symmetric-key-uuid", uuid)
			return wireRequest{"GET", "/enc/x", h, nil}
		},
		"encrypted POST": func() wireRequest {
			h := signedHeaders(t, kp, freshNonce(g.Clock.Now()), g.Miner, uuid)
			h.Set("symmetric-key-uuid", uuid)
			return wireRequest{"POST", "/enc/x", h, encryptBody(t, key, `{"nonce": "`+freshNonce(g.Clock.Now())+`"}`, g.Clock.Now())}
		},
	}
	for name, next := range kinds {
		t.Run(name, func(t *testing.T) {
			time.Sleep(600 * time.Millisecond) // a full bucket
			burn, r := next(), next()
			if st, _, body := rawRequest(t, burn.method, g.URL+burn.path, burn.header, burn.body); st != 200 {
				t.Fatalf("the first request: %d %s", st, body)
			}
			st, h, body := rawRequest(t, r.method, g.URL+r.path, r.header, r.body)
			if st != 429 || errorCode(body) != "rate_limited" || h.Get("Retry-After") == "" {
				t.Fatalf("over the limit: %d %s, want 429 rate_limited with Retry-After", st, body)
			}
			time.Sleep(600 * time.Millisecond) // longer than the 500 ms a token takes
			if st, _, body := rawRequest(t, r.method, g.URL+r.path, r.header, r.body); st != 200 {
				t.Fatalf("the same request after the wait: %d %s, want 200", st, body)
			}
			// And it is still used exactly once.
			time.Sleep(600 * time.Millisecond)
			if st, _, body := rawRequest(t, r.method, g.URL+r.path, r.header, r.body); st != 401 {
				t.Fatalf("the same request a third time: %d %s, want 401 (a replay)", st, body)
			}
		})
	}
}
