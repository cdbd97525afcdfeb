//go:build unix

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/internal/e2etest"
	"github.com/fibergate/fibergate/internal/redistest"
	"github.com/fibergate/fibergate/keystore"
)

// replicaSet is n fibergate processes sharing one redis-server, one RSA
// key, one storage key and one app, as replicas behind a load balancer.
type replicaSet struct {
	redis  *redistest.Server
	procs  []*e2etest.Process
	addrs  []string // proxy addresses
	admins []string // admin addresses
}

// writeRedisConfig writes the config of one replica to dir/config.yaml:
// the redis backend on addr, rate limits off (the tests send bursts from
// one address and one validator).
func writeRedisConfig(t *testing.T, dir, upstream, rsaKey, redisAddr string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "listen: \"127.0.0.1:0\"\nadmin_listen: %q\n", e2etest.FreeAddr(t))
	fmt.Fprintf(&b, "upstream:\n  url: %q\n  timeout: 20s\n", upstream)
	fmt.Fprintf(&b, "miner:\n  hotkey: %q\n", e2etest.Bob.SS58)
	fmt.Fprintf(&b, "handshake:\n  rsa_key_file: %q\n", rsaKey)
	fmt.Fprintf(&b, "validators:\n  min_stake: 1000\n  static:\n    - {hotkey: %q, stake: 5000}\n", e2etest.Alice.SS58)
	b.WriteString("keystore:\n  backend: redis\n")
	fmt.Fprintf(&b, "  redis: {addr: %q, prefix: \"e2e:\", read_timeout: 300ms, write_timeout: 300ms, dial_timeout: 300ms}\n", redisAddr)
	b.WriteString("routes:\n  - {path: \"/signed/*\", mode: signed}\n")
	b.WriteString("rate_limits:\n  per_ip: {per_second: 0}\n  per_validator: {per_second: 0}\n  handshakes_per_validator: {per_second: 0}\n")
	b.WriteString("shutdown_grace: 2s\n")
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func startReplicas(t *testing.T, n int) *replicaSet {
	t.Helper()
	rs := startReplicasOn(t, redistest.Start(t, redistest.Options{}), n, true)
	return rs
}

// startReplicasOn starts n replicas on srv, and waits for /readyz when
// ready is set, or only for them to listen.
func startReplicasOn(t *testing.T, srv *redistest.Server, n int, ready bool) *replicaSet {
	t.Helper()
	rs := &replicaSet{redis: srv}
	keyFile := writeRSAKey(t, t.TempDir())
	app := e2etest.DemoApp(t)
	env := e2etest.Env("FIBERGATE_STORAGE_KEY=" + keystore.GenerateStorageKey())
	for range n {
		dir := t.TempDir()
		cfg := writeRedisConfig(t, dir, app, keyFile, rs.redis.Addr)
		rs.procs = append(rs.procs, e2etest.StartFibergate(t, dir, env, "serve", "--config", cfg))
	}
	for _, p := range rs.procs {
		var addr, admin string
		if ready {
			addr, admin = p.WaitReady(t)
		} else {
			addr, admin = p.WaitUp(t)
		}
		rs.addrs = append(rs.addrs, addr)
		rs.admins = append(rs.admins, admin)
	}
	return rs
}

// router sends each request of a client to the replica target picks.
type router struct {
	rt     http.RoundTripper
	target func() string
}

func (r *router) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Host = r.target()
	req.Host = ""
	return r.rt.RoundTrip(req)
}

// validator is //Alice talking to a set of replicas.
type validator struct {
	kp *sr25519.Keypair
	c  *client.Client
	to atomic.Value // string: the replica the client's next request goes to
	hc *http.Client // the client's, through the router
	// plain sends hand-made requests to a replica named per call.
	plain *http.Client
}

func newValidator(t *testing.T, first string) *validator {
	t.Helper()
	kp := e2etest.Alice.Keypair(t)
	v := &validator{kp: kp, plain: &http.Client{Timeout: e2etest.IOTimeout}}
	v.to.Store(first)
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	v.hc = &http.Client{Timeout: e2etest.IOTimeout, Transport: &router{rt: tr, target: func() string { return v.to.Load().(string) }}}
	var err error
	v.c, err = client.New(client.Options{BaseURL: "http://" + first, Keypair: kp, MinerHotkey: e2etest.Bob.SS58, HTTP: v.hc})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// exchange hands the replica at addr a fresh key under uuid, as Fiber's
// handshake does, and returns the key.
func (v *validator) exchange(t *testing.T, addr, uuid string) (*fernet.Key, error) {
	t.Helper()
	resp, err := v.plain.Get("http://" + addr + "/public-encryption-key")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var pk struct {
		PublicKey string `json:"public_key"`
	}
	if err := json.Unmarshal(body, &pk); err != nil {
		t.Fatalf("public key answer %q: %v", body, err)
	}
	pub, err := rsakey.ParsePublicPEM([]byte(pk.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	var raw [32]byte
	rand.Read(raw[:])
	ct, err := rsakey.EncryptSymmetricKey(pub, raw, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := fernet.NewKey(raw[:])
	if err != nil {
		t.Fatal(err)
	}
	h, err := v.c.Headers(uuid)
	if err != nil {
		t.Fatal(err)
	}
	h["symmetric-key-uuid"] = []string{uuid}
	h.Set("Content-Type", "application/json")
	payload, _ := json.Marshal(map[string]string{"encrypted_symmetric_key": base64.StdEncoding.EncodeToString(ct)})
	status, out := send(t, v.plain, addr, signedRequest{header: h, body: payload}, "/exchange-symmetric-key")
	if status != http.StatusOK {
		return nil, fmt.Errorf("exchange on %s: %d %s", addr, status, out)
	}
	return key, nil
}

// signedRequest is an encrypted-mode request signed and sealed ahead of
// sending, so the very same bytes can go to several replicas.
type signedRequest struct {
	header http.Header
	body   []byte
	prompt string
}

// presign builds an encrypted request under (key, uuid) carrying prompt;
// the answer comes back plain.
func (v *validator) presign(t *testing.T, key *fernet.Key, uuid, prompt string) signedRequest {
	t.Helper()
	h, err := v.c.Headers(uuid)
	if err != nil {
		t.Fatal(err)
	}
	h["symmetric-key-uuid"] = []string{uuid}
	h.Set("Content-Type", "application/octet-stream")
	return signedRequest{header: h, body: sealPrompt(t, key, prompt, time.Now()), prompt: prompt}
}

// sealPrompt returns {"prompt": prompt} with Fiber's inner nonce, as one
// Fernet token under key, both stamped at.
func sealPrompt(t *testing.T, key *fernet.Key, prompt string, at time.Time) []byte {
	t.Helper()
	n, err := client.Nonce(at, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := client.WithNonce([]byte(fmt.Sprintf(`{"prompt":%q}`, prompt)), n)
	if err != nil {
		t.Fatal(err)
	}
	var iv [16]byte
	rand.Read(iv[:])
	return key.Encrypt(nil, plain, at.Unix(), &iv)
}

// send posts r to addr+path and returns the status and body.
func send(t *testing.T, hc *http.Client, addr string, r signedRequest, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+path, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = r.header.Clone()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// errorCode reads the "error" field of fibergate's JSON refusal.
func errorCode(body string) string {
	var e struct{ Error string }
	json.Unmarshal([]byte(body), &e)
	return e.Error
}

// checkEcho checks a plain answer from the demo app to a presigned request.
func checkEcho(t *testing.T, where string, status int, body string, r signedRequest) {
	t.Helper()
	if status != http.StatusOK {
		t.Fatalf("%s: got %d %s, want 200", where, status, body)
	}
	var echo struct{ Prompt, Nonce string }
	if err := json.Unmarshal([]byte(body), &echo); err != nil || echo.Prompt != r.prompt || !fiberNonce.MatchString(echo.Nonce) {
		t.Fatalf("%s: got %q, want the prompt %q echoed", where, body, r.prompt)
	}
}

// TestRedisReplicas runs two replicas on one Redis through every case of
// the shared backend, in order: keys and nonces shared, a re-exchange seen
// at once, a Redis outage and the recovery.
func TestRedisReplicas(t *testing.T) {
	t.Parallel()
	rs := startReplicas(t, 2)
	a, b := rs.addrs[0], rs.addrs[1]
	v := newValidator(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	if err := v.c.Handshake(ctx); err != nil {
		t.Fatalf("handshake on A: %v", err)
	}
	key, uuid := v.c.Key()

	t.Run("requests alternate between replicas", func(t *testing.T) {
		for i := range 20 {
			to := rs.addrs[i%2]
			v.to.Store(to)
			prompt := fmt.Sprintf("hello %d", i)
			resp, err := v.c.Post(ctx, "/echo", []byte(fmt.Sprintf(`{"prompt":%q}`, prompt)))
			if err != nil {
				t.Fatalf("request %d on %s: %v", i, to, err)
			}
			var echo struct{ Prompt string }
			if err := json.Unmarshal(resp.Body, &echo); err != nil || echo.Prompt != prompt || !resp.Encrypted {
				t.Fatalf("request %d on %s: got %q (encrypted %v), want the prompt echoed, encrypted", i, to, resp.Body, resp.Encrypted)
			}
		}
	})

	t.Run("redis holds no key in clear", func(t *testing.T) {
		keys, err := rs.redis.Do(ctx, "KEYS", "*")
		if err != nil {
			t.Fatal(err)
		}
		raw := key.Raw()
		pub := v.kp.Public()
		entry := "e2e:key:" + hex.EncodeToString(pub[:]) + ":" + uuid
		if !strings.Contains(keys, entry) {
			t.Errorf("Redis keys %q: no %s", keys, entry)
		}
		for _, k := range strings.Split(keys, "\n") {
			if !strings.HasPrefix(k, "e2e:") {
				t.Errorf("key %q outside the prefix", k)
			}
			typ, _ := rs.redis.Do(ctx, "TYPE", k)
			if typ != "string" {
				continue
			}
			val, _ := rs.redis.Do(ctx, "GET", k)
			for _, form := range []string{string(raw[:]), base64.URLEncoding.EncodeToString(raw[:]), base64.StdEncoding.EncodeToString(raw[:]), hex.EncodeToString(raw[:])} {
				if strings.Contains(val, form) {
					t.Errorf("%s holds the symmetric key in clear", k)
				}
			}
		}
	})

	t.Run("a request replayed to the other replica is refused", func(t *testing.T) {
		for i := range 10 {
			first, second := rs.addrs[i%2], rs.addrs[(i+1)%2]
			r := v.presign(t, key, uuid, fmt.Sprint("once ", i))
			status, body := send(t, v.plain, first, r, "/echo")
			checkEcho(t, "first send", status, body, r)
			status, body = send(t, v.plain, second, r, "/echo")
			if status != http.StatusUnauthorized || errorCode(body) != "nonce_replayed" {
				t.Fatalf("the same request on the other replica: got %d %s, want 401 nonce_replayed", status, body)
			}
		}
	})

	t.Run("a key exchanged again on one replica is used by the other at once", func(t *testing.T) {
		old := key
		for i := range 20 {
			on, use := rs.addrs[(i+1)%2], rs.addrs[i%2]
			k, err := v.exchange(t, on, uuid)
			if err != nil {
				t.Fatal(err)
			}
			r := v.presign(t, k, uuid, fmt.Sprint("new key ", i))
			status, body := send(t, v.plain, use, r, "/echo")
			checkEcho(t, fmt.Sprintf("round %d: the new key on the other replica", i), status, body, r)
			stale := v.presign(t, old, uuid, "old key")
			status, body = send(t, v.plain, use, stale, "/echo")
			if status == http.StatusOK {
				t.Fatalf("round %d: the replaced key still works: %s", i, body)
			}
			old = k
		}
		key = old
	})

	t.Run("one nonce at two replicas at once is accepted exactly once", func(t *testing.T) {
		const rounds = 1000
		reqs := make([]signedRequest, rounds)
		for i := range reqs {
			reqs[i] = v.presign(t, key, uuid, fmt.Sprint("race ", i))
		}
		// One keep-alive connection to each replica.
		hcs := make([]*http.Client, 2)
		for i := range hcs {
			tr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}
			t.Cleanup(tr.CloseIdleConnections)
			hcs[i] = &http.Client{Timeout: e2etest.IOTimeout, Transport: tr}
		}
		for i, r := range reqs {
			var wg sync.WaitGroup
			var status [2]int
			var body [2]string
			start := make(chan struct{})
			for j := range 2 {
				wg.Go(func() {
					<-start
					status[j], body[j] = send(t, hcs[j], rs.addrs[j], r, "/echo")
				})
			}
			close(start)
			wg.Wait()
			ok, replayed := 0, 0
			for j := range 2 {
				switch {
				case status[j] == http.StatusOK:
					checkEcho(t, fmt.Sprintf("round %d", i), status[j], body[j], r)
					ok++
				case status[j] == http.StatusUnauthorized && errorCode(body[j]) == "nonce_replayed":
					replayed++
				}
			}
			if ok != 1 || replayed != 1 {
				t.Fatalf("round %d: got %d %s and %d %s, want one 200 and one 401 nonce_replayed", i, status[0], body[0], status[1], body[1])
			}
		}
	})

	t.Run("redis down: 503 store_unavailable, then back without a restart", func(t *testing.T) {
		rs.redis.Stop()
		for i, addr := range rs.addrs {
			r := v.presign(t, key, uuid, "during the outage")
			start := time.Now()
			status, body := send(t, v.plain, addr, r, "/echo")
			if status != http.StatusServiceUnavailable || errorCode(body) != "store_unavailable" {
				t.Errorf("replica %d with Redis down: got %d %s, want 503 store_unavailable", i, status, body)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("replica %d with Redis down answered after %v, want a fast failure", i, d)
			}
			if _, err := v.exchange(t, addr, "during-the-outage"); err == nil || !strings.Contains(err.Error(), "503") {
				t.Errorf("replica %d: handshake with Redis down: got %v, want 503", i, err)
			}
			status, body = e2etest.Get("http://" + rs.admins[i] + "/readyz")
			if status != http.StatusServiceUnavailable || !strings.Contains(body, "redis") {
				t.Errorf("replica %d: /readyz with Redis down: got %d %q, want 503 naming redis", i, status, body)
			}
			_, exp := e2etest.Get("http://" + rs.admins[i] + "/metrics")
			if n := metricValue(t, exp, `fibergate_keystore_backend_errors_total{op="nonce"}`); n < 1 {
				t.Errorf("replica %d: nonce backend errors counted: %v, want at least 1", i, n)
			}
			if n := metricValue(t, exp, `fibergate_requests_total{result="store_unavailable",route="default"}`); n < 1 {
				t.Errorf("replica %d: store_unavailable requests counted: %v, want at least 1", i, n)
			}
			if rs.procs[i].Exited() {
				t.Fatalf("replica %d exited with Redis down", i)
			}
		}

		rs.redis.Restart()
		// The restarted Redis is empty (no persistence): the validator
		// handshakes again, as Fiber's client does on unknown_key.
		deadline := time.Now().Add(30 * time.Second)
		for i := range rs.addrs {
			for {
				status, _ := e2etest.Get("http://" + rs.admins[i] + "/readyz")
				if status == http.StatusOK {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("replica %d: /readyz not 200 within 30s of Redis coming back", i)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		for {
			v.to.Store(a)
			err := v.c.Handshake(ctx)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("handshake after Redis came back: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		for i := range 10 {
			v.to.Store(rs.addrs[i%2])
			if _, err := v.c.Post(ctx, "/echo", []byte(`{"prompt":"back"}`)); err != nil {
				t.Fatalf("request %d after Redis came back: %v", i, err)
			}
		}
		k2, u2 := v.c.Key()
		r := v.presign(t, k2, u2, "replayed after recovery")
		status, body := send(t, v.plain, b, r, "/echo")
		checkEcho(t, "after recovery", status, body, r)
		if status, body := send(t, v.plain, a, r, "/echo"); status != http.StatusUnauthorized || errorCode(body) != "nonce_replayed" {
			t.Errorf("replay after recovery: got %d %s, want 401 nonce_replayed", status, body)
		}
	})
}
