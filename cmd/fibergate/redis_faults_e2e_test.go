//go:build unix

package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/internal/e2etest"
	"github.com/fibergate/fibergate/internal/redistest"
)

// TestRedisLosesData: two replicas share a Redis that loses its data three
// ways (FLUSHALL, FLUSHDB, a restart without persistence). After each, no
// request captured before it is served again, on either replica: neither
// an encrypted one, nor a signed-mode one, nor one stamped 15 s ahead.
// Requests signed afresh are served once the recovery hold (2 s) is over,
// after a new key exchange (the keys went too).
func TestRedisLosesData(t *testing.T) {
	t.Parallel()
	rs := startReplicas(t, 2)
	ctx := context.Background()
	kp := e2etest.Alice.Keypair(t)
	v := newValidator(t, rs.addrs[0])
	seq := 0
	uuid := func() string { seq++; return fmt.Sprintf("loss-%d", seq) }
	capture := func(phase string) []captured {
		u := uuid()
		key, err := v.exchange(t, rs.addrs[0], u)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		return []captured{
			captureEncrypted(t, kp, key, u, phase+" encrypted", now),
			captureSigned(t, kp, phase+" signed", now),
			captureSigned(t, kp, phase+" signed, clock 15 s ahead", now.Add(15*time.Second)),
		}
	}
	// never checks that no replica serves any of caps, and that the signed
	// ones are refused as unverifiable once Redis answers.
	never := func(when string, caps []captured) {
		t.Helper()
		hc := &http.Client{Timeout: e2etest.IOTimeout}
		for _, c := range caps {
			for i, addr := range rs.addrs {
				status, body := send(t, hc, addr, c.r, c.path)
				if status == http.StatusOK {
					t.Errorf("%s, %s: replica %d served it again: %s", c.name, when, i, body)
				}
				if strings.Contains(c.name, "signed") && errorCode(body) != "nonce_unverifiable" {
					t.Errorf("%s, %s: replica %d answered %d %s, want 503 nonce_unverifiable", c.name, when, i, status, body)
				}
			}
		}
	}
	ready := func(what string) {
		t.Helper()
		for _, admin := range rs.admins {
			e2etest.WaitFor(t, 30*time.Second, "/readyz after "+what, func() bool {
				st, _ := e2etest.Get("http://" + admin + "/readyz")
				return st == http.StatusOK
			})
		}
	}
	losses := []struct {
		name string
		do   func()
	}{
		{"FLUSHALL", func() {
			if _, err := rs.redis.Do(ctx, "FLUSHALL"); err != nil {
				t.Fatal(err)
			}
		}},
		{"FLUSHDB", func() {
			if _, err := rs.redis.Do(ctx, "FLUSHDB"); err != nil {
				t.Fatal(err)
			}
		}},
		{"a restart without persistence", func() {
			rs.redis.Stop()
			rs.redis.Restart()
			// Until the replicas reconnect they answer 503 store_unavailable.
			e2etest.WaitFor(t, 30*time.Second, "the replicas to reach the restarted Redis", func() bool {
				for _, admin := range rs.admins {
					if _, body := e2etest.Get("http://" + admin + "/readyz"); strings.Contains(body, "cannot record") {
						return false
					}
				}
				return true
			})
		}},
	}
	for _, loss := range losses {
		caps := capture(loss.name)
		for _, c := range caps {
			c.expect(t, rs.addrs[0], "before "+loss.name, http.StatusOK, "")
		}
		loss.do()
		never("right after "+loss.name, caps)
		ready(loss.name)
		never("once ready after "+loss.name, caps)
		// Fresh requests are served, on both replicas, after a new exchange.
		u := uuid()
		key, err := v.exchange(t, rs.addrs[1], u)
		if err != nil {
			t.Fatalf("a key exchange after %s: %v", loss.name, err)
		}
		for i, addr := range rs.addrs {
			captureEncrypted(t, kp, key, u, fmt.Sprintf("fresh encrypted on replica %d after %s", i, loss.name), time.Now()).expect(t, addr, "fresh", http.StatusOK, "")
			captureSigned(t, kp, fmt.Sprintf("fresh signed on replica %d after %s", i, loss.name), time.Now()).expect(t, addr, "fresh", http.StatusOK, "")
		}
	}
	for i, admin := range rs.admins {
		_, m := e2etest.Get("http://" + admin + "/metrics")
		if got := metricValue(t, m, "fibergate_nonce_guard_lost_total"); got != float64(len(losses)) {
			t.Errorf("replica %d: fibergate_nonce_guard_lost_total %v, want %d (one a loss)", i, got, len(losses))
		}
	}

	// A damaged value in Redis is no key: the validator is told to
	// exchange again (and can), never a 503 that lasts.
	u := uuid()
	key, err := v.exchange(t, rs.addrs[0], u)
	if err != nil {
		t.Fatal(err)
	}
	pub := kp.Public()
	entry := "e2e:key:" + hex.EncodeToString(pub[:]) + ":" + u
	if _, err := rs.redis.Do(ctx, "SET", entry, "damaged"); err != nil {
		t.Fatal(err)
	}
	for range 2 { // and again: it does not turn into a 503
		status, body := send(t, &http.Client{Timeout: e2etest.IOTimeout}, rs.addrs[1], captureEncrypted(t, kp, key, u, "damaged", time.Now()).r, "/echo")
		if status != http.StatusBadRequest || errorCode(body) != "unknown_key" || !strings.Contains(body, `"requires_handshake":true`) {
			t.Errorf("a request under a damaged key: got %d %s, want 400 unknown_key with requires_handshake", status, body)
		}
	}
	if key, err = v.exchange(t, rs.addrs[1], u); err != nil {
		t.Fatalf("exchanging again under the damaged key's uuid: %v", err)
	}
	captureEncrypted(t, kp, key, u, "after a new exchange", time.Now()).expect(t, rs.addrs[1], "the damaged value replaced", http.StatusOK, "")
}

// TestRedisEvicting: a Redis that may evict keys (allkeys-lru under a
// memory limit) could drop nonce sets and let their nonces be replayed, so
// fibergate is not ready and refuses signed requests while it does; a
// Redis set to noeviction is served at once.
func TestRedisEvicting(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	config := func(kv ...string) {
		t.Helper()
		for i := 0; i < len(kv); i += 2 {
			if _, err := srv.Do(ctx, "CONFIG", "SET", kv[i], kv[i+1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	config("maxmemory", "64mb", "maxmemory-policy", "allkeys-lru")
	rs := startReplicasOn(t, srv, 1, false)
	kp := e2etest.Alice.Keypair(t)
	admin := rs.admins[0]
	e2etest.WaitFor(t, 30*time.Second, "/readyz to name the eviction policy", func() bool {
		st, body := e2etest.Get("http://" + admin + "/readyz")
		return st == http.StatusServiceUnavailable && strings.Contains(body, "maxmemory-policy allkeys-lru")
	})
	captureSigned(t, kp, "signed, evicting Redis", time.Now()).expect(t, rs.addrs[0], "while Redis evicts", http.StatusServiceUnavailable, "store_unavailable")
	_, m := e2etest.Get("http://" + admin + "/metrics")
	if got := metricValue(t, m, "fibergate_keystore_redis_evicting"); got != 1 {
		t.Errorf("fibergate_keystore_redis_evicting: %v, want 1", got)
	}
	if !strings.Contains(rs.procs[0].Stderr.String(), "set maxmemory-policy noeviction") {
		t.Errorf("the log does not say what to do:\n%s", rs.procs[0].Stderr.String())
	}

	config("maxmemory-policy", "noeviction")
	e2etest.WaitFor(t, 30*time.Second, "/readyz once Redis no longer evicts", func() bool {
		st, _ := e2etest.Get("http://" + admin + "/readyz")
		return st == http.StatusOK
	})
	captureSigned(t, kp, "signed, noeviction", time.Now()).expect(t, rs.addrs[0], "once Redis no longer evicts", http.StatusOK, "")
	_, m = e2etest.Get("http://" + admin + "/metrics")
	if got := metricValue(t, m, "fibergate_keystore_redis_evicting"); got != 0 {
		t.Errorf("fibergate_keystore_redis_evicting: %v, want 0", got)
	}
}

// TestRedisOutOfMemory: a Redis at its memory limit under noeviction
// refuses writes: fibergate cannot record a nonce, so it is not ready and
// refuses signed requests (503 store_unavailable) until Redis has room.
func TestRedisOutOfMemory(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	rs := startReplicasOn(t, srv, 1, true)
	kp := e2etest.Alice.Keypair(t)
	admin := rs.admins[0]
	// 4 MB of data, then a limit below it: every write is refused (OOM)
	// until there is room, as when Redis fills up under noeviction.
	pad := strings.Repeat("x", 64<<10)
	for i := range 64 {
		if _, err := srv.Do(ctx, "SET", fmt.Sprintf("junk:%d", i), pad); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.Do(ctx, "CONFIG", "SET", "maxmemory", "2mb"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Do(ctx, "SET", "one-more", "x"); err == nil || !strings.Contains(err.Error(), "OOM") {
		t.Fatalf("a write to the full Redis: %v, want OOM", err)
	}
	e2etest.WaitFor(t, 30*time.Second, "/readyz to say Redis refuses writes", func() bool {
		st, body := e2etest.Get("http://" + admin + "/readyz")
		return st == http.StatusServiceUnavailable && strings.Contains(body, "OOM")
	})
	captureSigned(t, kp, "signed, Redis out of memory", time.Now()).expect(t, rs.addrs[0], "while Redis is out of memory", http.StatusServiceUnavailable, "store_unavailable")

	if _, err := srv.Do(ctx, "CONFIG", "SET", "maxmemory", "0"); err != nil {
		t.Fatal(err)
	}
	e2etest.WaitFor(t, 30*time.Second, "/readyz once Redis has room", func() bool {
		st, _ := e2etest.Get("http://" + admin + "/readyz")
		return st == http.StatusOK
	})
	captureSigned(t, kp, "signed, Redis has room", time.Now()).expect(t, rs.addrs[0], "once Redis has room", http.StatusOK, "")
}
