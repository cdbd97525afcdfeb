package proxy_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	"github.com/fibergate/fibergate/proxy"
	"github.com/fibergate/fibergate/replay"
)

// TestNonceUnverifiable: behind a replay guard whose memory begins at a
// floor (a restart without its saved state), a request whose header or
// body nonce is stamped at or before the floor is refused with 503
// nonce_unverifiable and a Retry-After that reaches past the floor, never
// with nonce_replayed and never served; the same request signed afresh
// after the floor is served.
func TestNonceUnverifiable(t *testing.T) {
	start := time.Now()
	floor := start.Add(4 * time.Second)
	up := startUpstream(t)
	g := startGate(t, gateOptions{
		upstream: up.URL,
		now:      start,
		nonces:   replay.NewMemory(replay.MemoryOptions{Floor: floor.UnixNano()}),
		routes: []proxy.Route{
			{Path: "/signed/*", Mode: proxy.ModeSigned},
			{Path: "/enc/*", Mode: proxy.ModeEncrypted, Response: proxy.ResponsePlain},
		},
	})
	kp := aliceKeypair(t)
	signed := func(stamp time.Time) wireRequest {
		body := []byte(`{"prompt":"x"}`)
		sum := sha256.Sum256(body)
		return wireRequest{"POST", "/signed/x", signedHeaders(t, kp, freshNonce(stamp), g.Miner, hex.EncodeToString(sum[:])), body}
	}
	// Handshakes carry a nonce too: the key is exchanged after the floor.
	g.Clock.Set(floor.Add(time.Millisecond))
	c := newClient(t, g, aliceSeed)
	if err := c.Handshake(context.Background()); err != nil {
		t.Fatal(err)
	}
	key, uuid := c.Key()
	encrypted := func(header, body time.Time) wireRequest {
		h := signedHeaders(t, kp, freshNonce(header), g.Miner, uuid)
		h.Set("symmetric-key-uuid", uuid)
		return wireRequest{"POST", "/enc/x", h, encryptBody(t, key, `{"nonce": "`+freshNonce(body)+`"}`, body)}
	}

	g.Clock.Set(start.Add(time.Second))
	old := start.Add(-time.Second)
	for name, r := range map[string]wireRequest{
		"signed, stamped before the floor":             signed(old),
		"signed, stamped at the floor":                 signed(floor),
		"encrypted, header nonce before the floor":     encrypted(old, start),
		"encrypted, body nonce before the floor":       encrypted(start.Add(4500*time.Millisecond), old),
		"encrypted, both stamped just after the start": encrypted(start, start),
	} {
		g.Clock.Set(start.Add(time.Second))
		if name == "encrypted, body nonce before the floor" {
			g.Clock.Set(floor.Add(400 * time.Millisecond)) // the header nonce is past the floor
		}
		st, h, body := rawRequest(t, r.method, g.URL+r.path, r.header, r.body)
		if st != 503 || errorCode(body) != "nonce_unverifiable" {
			t.Errorf("%s: got %d %s, want 503 nonce_unverifiable", name, st, body)
			continue
		}
		secs, err := strconv.Atoi(h.Get("Retry-After"))
		if err != nil || secs < 1 || g.Clock.Now().Add(time.Duration(secs)*time.Second).Before(floor) {
			t.Errorf("%s: Retry-After %q does not reach the floor %v away", name, h.Get("Retry-After"), floor.Sub(g.Clock.Now()))
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the app received %d requests, want none", n)
	}

	g.Clock.Set(floor.Add(time.Second))
	now := g.Clock.Now()
	for name, r := range map[string]wireRequest{
		"signed, fresh":    signed(now),
		"encrypted, fresh": encrypted(now, now),
	} {
		if st, _, body := rawRequest(t, r.method, g.URL+r.path, r.header, r.body); st != 200 {
			t.Errorf("%s after the floor: got %d %s, want 200", name, st, body)
		}
	}
}
