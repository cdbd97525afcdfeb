package proxy_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"strconv"
	"testing"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/proxy"
	"github.com/fibergate/fibergate/ratelimit"
)

func TestPerValidatorLimit(t *testing.T) {
	up := startUpstream(t)
	alice := aliceKeypair(t)
	other, _ := sr25519.KeypairFromSeed(mustSeed("0x0303030303030303030303030303030303030303030303030303030303030303"))
	g := startGate(t, gateOptions{
		upstream:   up.URL,
		validators: stakeTable{alice.Public(): 5000, other.Public(): 5000},
		limits:     proxy.RateLimits{PerValidator: ratelimit.Rate{PerSecond: 0.1, Burst: 3}},
	})
	ca := newClient(t, g, aliceSeed)
	cb := newClient(t, g, mustSeed("0x0303030303030303030303030303030303030303030303030303030303030303"))
	ctx := context.Background()
	for _, c := range []*client.Client{ca, cb} {
		if err := c.Handshake(ctx); err != nil {
			t.Fatal(err)
		}
	}
	before := len(up.requests())
	for i := range 3 {
		if _, err := ca.Post(ctx, "/echo", []byte(`{}`)); err != nil {
			t.Fatalf("request %d within the burst: %v", i, err)
		}
	}
	_, err := ca.Post(ctx, "/echo", []byte(`{}`))
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 429 || e.Code != "rate_limited" {
		t.Fatalf("4th request: got %v, want 429 rate_limited", err)
	}
	if n := len(up.requests()) - before; n != 3 {
		t.Errorf("the app got %d requests, want 3", n)
	}
	if _, err := cb.Post(ctx, "/echo", []byte(`{}`)); err != nil {
		t.Errorf("another validator was starved by the first one's limit: %v", err)
	}
}

func TestRetryAfterAndPerIPLimit(t *testing.T) {
	up := startUpstream(t)
	g := startGate(t, gateOptions{
		upstream: up.URL,
		def:      &proxy.Route{Path: "*", Mode: proxy.ModePublic},
		limits:   proxy.RateLimits{PerIP: ratelimit.Rate{PerSecond: 0.2, Burst: 5}},
	})
	for i := range 5 {
		if status, _, body := rawRequest(t, "GET", g.URL+"/x", nil, nil); status != 200 {
			t.Fatalf("request %d: %d %s", i, status, body)
		}
	}
	status, h, body := rawRequest(t, "GET", g.URL+"/public-encryption-key", nil, nil)
	if status != 429 || errorCode(body) != "rate_limited" {
		t.Fatalf("got %d %s, want 429 rate_limited", status, body)
	}
	if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 4 || s > 5 {
		t.Errorf("Retry-After %q, want the 5 s until the next token", h.Get("Retry-After"))
	}
}

func TestHandshakeLimit(t *testing.T) {
	up := startUpstream(t)
	g := startGate(t, gateOptions{upstream: up.URL, limits: proxy.RateLimits{HandshakesPerValidator: ratelimit.Rate{PerSecond: 0.01, Burst: 2}}})
	c := newClient(t, g, aliceSeed)
	ctx := context.Background()
	for i := range 2 {
		if err := c.Handshake(ctx); err != nil {
			t.Fatalf("handshake %d: %v", i, err)
		}
	}
	err := c.Handshake(ctx)
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 429 {
		t.Fatalf("3rd handshake: got %v, want 429", err)
	}
	if n := g.Keys.Len(); n != 2 {
		t.Errorf("key store holds %d keys, want 2", n)
	}
}

// TestFloodOfUnknownHotkeysSpendsNoMemory signs requests with many keys no
// validator list holds: each is refused, and neither the replay guard nor
// the key store grows.
func TestFloodOfUnknownHotkeysSpendsNoMemory(t *testing.T) {
	up := startUpstream(t)
	g := startGate(t, gateOptions{upstream: up.URL})
	for i := range 200 {
		var seed [32]byte
		rand.Read(seed[:])
		kp, _ := sr25519.KeypairFromSeed(seed)
		h := signedHeaders(t, kp, freshNonce(g.Clock.Now()), g.Miner, "u")
		h["symmetric-key-uuid"] = []string{"u"}
		path := "/x"
		if i%2 == 0 {
			path = "/exchange-symmetric-key"
		}
		status, _, body := rawRequest(t, http.MethodPost, g.URL+path, h, []byte(`{"encrypted_symmetric_key": "AAAA"}`))
		if status != 403 || errorCode(body) != "unknown_validator" {
			t.Fatalf("got %d %s, want 403 unknown_validator", status, body)
		}
	}
	if n := g.Nonces.Len(); n != 0 {
		t.Errorf("the replay guard holds %d nonces from unknown hotkeys", n)
	}
	if n := g.Keys.Len(); n != 0 {
		t.Errorf("the key store holds %d keys", n)
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the app got %d requests", n)
	}
}
