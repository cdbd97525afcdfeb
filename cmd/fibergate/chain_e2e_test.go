//go:build unix

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fibergate/fibergate/chain/chaintest"
	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/internal/e2etest"
	"github.com/fibergate/fibergate/internal/testvectors"
)

// Neurons of netuid 1 at block 6852690, as recorded (spec 343), and their
// stake under Fiber 2.1's rule: uid 245 and 276 are above min_stake 1000,
// uid 24 below it.
const (
	uid24Hotkey  = "5HbScNssaEfioJHXjcXdpyqo1AKnYjymidGF8opcF9rTFZdT" // 959.873144507
	uid245Hotkey = "5D1saVvssckE1XoPwPzdHrqYZtvBJ3vESsrPNxZ4zAxbKGs1" // 4342.02989846
	uid276Hotkey = "5E2LP6EnZ54m3wS8s1yPvD5c3xo71kQroBw7aUVK32TKeZ5u" // 25708.846358208
	uid245Stake  = "4342.02989846"
)

// chainConfig writes a config whose only validator source is the chain at
// nodeURL, with the stale policy given, and returns its path.
func chainConfig(t *testing.T, dir, name, upstream, nodeURL, stale string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "listen: \"127.0.0.1:0\"\nadmin_listen: %q\n", e2etest.FreeAddr(t))
	fmt.Fprintf(&b, "upstream:\n  url: %q\n  timeout: 20s\n", upstream)
	fmt.Fprintf(&b, "miner:\n  hotkey: %q\n", e2etest.Bob.SS58)
	b.WriteString("validators:\n  min_stake: 1000\n  chain:\n")
	fmt.Fprintf(&b, "    url: %q\n    netuid: 1\n    refresh: 500ms\n    stale_after: 3s\n    timeout: 2s\n", nodeURL)
	fmt.Fprintf(&b, "    stale: %s\n    cache_file: %q\n", stale, filepath.Join(dir, name+"-chain-nodes.json"))
	b.WriteString("shutdown_grace: 5s\n")
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// refusal returns the code of a *client.Error, or "" for nil.
func refusal(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var ce *client.Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a refusal from the server", err)
	}
	return fmt.Sprintf("%d %s", ce.Status, ce.Code)
}

// unsignedExchange sends a key exchange naming hotkey with a well-formed
// signature nobody made. A validator in the list with enough stake gets
// past the stake check and is refused for the signature (401); one that
// is not gets 403.
func unsignedExchange(t *testing.T, addr, hotkey string) (int, string) {
	t.Helper()
	n, err := client.Nonce(time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	sig[63] = 0x80 // schnorrkel's marker bit, so the signature is well-formed
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/exchange-symmetric-key",
		strings.NewReader(`{"encrypted_symmetric_key": "AAAA"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("validator-hotkey", hotkey)
	req.Header.Set("miner-hotkey", e2etest.Bob.SS58)
	req.Header.Set("nonce", n)
	req.Header.Set("symmetric-key-uuid", strings.Repeat("ab", 32))
	req.Header.Set("signature", fmt.Sprintf("0x%x", sig))
	resp, err := (&http.Client{Timeout: e2etest.IOTimeout}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Error string }
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error
}

// TestChainValidators runs fibergate with its validators read from a fake
// subtensor node that answers from the recorded spec-343 session of
// netuid 1 (its chain_getHeader, state_getRuntimeVersion and state_call
// exchanges, byte for byte): two instances, one over WebSocket with
// stale: refuse, one over HTTP with stale: serve. Nobody holds the secret
// keys of the recorded hotkeys, so the node swaps two recorded hotkeys for
// test keys in its answers (uid 245, above min_stake, becomes //Alice; uid
// 24, below it, a key made here); every stake is as recorded. Then the
// node stops, and each instance does what its stale policy says, also
// across a restart.
func TestChainValidators(t *testing.T) {
	t.Parallel()
	ss, err := chaintest.LoadSession(filepath.Join(testvectors.Dir(), "chain", "neurons_lite_netuid1_spec343_block6852690.json"))
	if err != nil {
		t.Fatal(err)
	}
	node, err := chaintest.NewServer(ss)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	aliceSeed := e2etest.Alice.Seed()
	lowSeed := [32]byte{24, 24, 24}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"validator": %q, "stake": %q}`, r.Header.Get("X-Fiber-Validator-Hotkey"), r.Header.Get("X-Fiber-Validator-Stake"))
	}))
	defer app.Close()

	dir := t.TempDir()
	refuseCfg := chainConfig(t, dir, "refuse", app.URL, node.WSURL(), "refuse")
	serveCfg := chainConfig(t, dir, "serve", app.URL, node.HTTPURL(), "serve")
	for hotkey, seed := range map[string][32]byte{uid245Hotkey: aliceSeed, uid24Hotkey: lowSeed} {
		kp, err := sr25519.KeypairFromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		node.Replace(pubOf(t, hotkey), kp.Public())
	}

	refuse := e2etest.StartFibergate(t, dir, e2etest.Env(), "serve", "--config", refuseCfg)
	serve := e2etest.StartFibergate(t, dir, e2etest.Env(), "serve", "--config", serveCfg)
	refuseAddr, refuseAdmin := refuse.WaitReady(t)
	serveAddr, serveAdmin := serve.WaitReady(t)
	ctx := context.Background()

	for _, inst := range []struct{ name, addr, admin string }{{"ws, refuse", refuseAddr, refuseAdmin}, {"http, serve", serveAddr, serveAdmin}} {
		t.Run(inst.name, func(t *testing.T) {
			alice := e2etest.Alice.Client(t, inst.addr)
			if err := alice.Handshake(ctx); err != nil {
				t.Fatalf("//Alice as uid 245: handshake: %v", err)
			}
			resp, err := alice.Post(ctx, "/echo", []byte(`{"prompt": "hello"}`))
			if err != nil {
				t.Fatalf("//Alice as uid 245: post: %v", err)
			}
			var got struct{ Validator, Stake string }
			if err := json.Unmarshal(resp.Body, &got); err != nil || got.Validator != e2etest.Alice.SS58 || got.Stake != uid245Stake {
				t.Errorf("the app saw %s (%v), want //Alice with uid 245's recorded stake %s", resp.Body, err, uid245Stake)
			}

			low := e2etest.Seeded(lowSeed).Client(t, inst.addr)
			if got := refusal(t, low.Handshake(ctx)); got != "403 insufficient_stake" {
				t.Errorf("uid 24 (959.87 < 1000): got %q, want 403 insufficient_stake", got)
			}
			// A recorded validator left as it was: in the list with its
			// stake, so only the signature is wrong.
			if status, code := unsignedExchange(t, inst.addr, uid276Hotkey); status != http.StatusUnauthorized || !strings.HasPrefix(code, "signature_") {
				t.Errorf("uid 276 unsigned: got %d %s, want 401 for the signature (past the stake check)", status, code)
			}
			_, stranger := key32(0x5a)
			if status, code := unsignedExchange(t, inst.addr, stranger); status != http.StatusForbidden || code != "unknown_validator" {
				t.Errorf("a hotkey not in the metagraph: got %d %s, want 403 unknown_validator", status, code)
			}

			_, exp := e2etest.Get("http://" + inst.admin + "/metrics")
			for series, want := range map[string]float64{
				`fibergate_validators_loaded{source="chain"}`: 1024,
				`fibergate_validators_chain_stale`:            0,
				`fibergate_validators_chain_block`:            6852690,
			} {
				if got := metricValue(t, exp, series); got != want {
					t.Errorf("%s: got %v, want %v", series, got, want)
				}
			}
		})
	}
	var calls []string
	for _, r := range node.Requests() {
		calls = append(calls, strings.SplitN(r, " ", 2)[0])
	}
	for _, m := range []string{"chain_getFinalizedHead", "chain_getHeader", "state_getRuntimeVersion", "state_call"} {
		if !strings.Contains(strings.Join(calls, ","), m) {
			t.Errorf("the node never got %s; calls: %v", m, calls)
		}
	}

	// The node goes away. After stale_after, the refuse instance refuses
	// the chain's validators and says so on /readyz; the serve instance
	// keeps serving the last good list.
	node.Close()
	alice := e2etest.Alice.Client(t, refuseAddr)
	e2etest.WaitFor(t, 20*time.Second, "refuse: /readyz 503", func() bool {
		status, _ := e2etest.Get("http://" + refuseAdmin + "/readyz")
		return status == http.StatusServiceUnavailable
	})
	if _, body := e2etest.Get("http://" + refuseAdmin + "/readyz"); !strings.Contains(body, "stale") || !strings.Contains(body, "refused") {
		t.Errorf("refuse: /readyz body %q, want it to say the chain list is stale and refused", body)
	}
	if got := refusal(t, alice.Handshake(ctx)); got != "403 unknown_validator" {
		t.Errorf("refuse, stale: //Alice got %q, want 403 unknown_validator", got)
	}
	_, exp := e2etest.Get("http://" + refuseAdmin + "/metrics")
	if got := metricValue(t, exp, `fibergate_validators_chain_stale`); got != 1 {
		t.Errorf("refuse: chain_stale %v, want 1", got)
	}
	if got := metricValue(t, exp, `fibergate_validators_chain_refresh_failures_total{reason="unreachable"}`); got < 1 {
		t.Errorf("refuse: unreachable failures %v, want at least 1", got)
	}

	e2etest.WaitFor(t, 20*time.Second, "serve: stale", func() bool {
		_, exp := e2etest.Get("http://" + serveAdmin + "/metrics")
		return strings.Contains(exp, "\nfibergate_validators_chain_stale 1\n")
	})
	status, body := e2etest.Get("http://" + serveAdmin + "/readyz")
	if status != http.StatusOK || !strings.Contains(body, "stale") {
		t.Errorf("serve: /readyz %d %q, want 200 noting the stale list", status, body)
	}
	alice = e2etest.Alice.Client(t, serveAddr)
	if err := alice.Handshake(ctx); err != nil {
		t.Errorf("serve, stale: //Alice: %v, want the last good list to admit her", err)
	}

	// Restart the serve instance with the chain still down: the cache file
	// gives it the last good list at once.
	serve.Signal(t, syscall.SIGTERM)
	if code := serve.WaitExit(t, e2etest.ExitTimeout); code != 0 {
		t.Fatalf("serve instance exit %d", code)
	}
	cache, err := os.ReadFile(filepath.Join(dir, "serve-chain-nodes.json"))
	if err != nil || !bytes.Contains(cache, []byte(`"`+e2etest.Alice.SS58+`"`)) {
		t.Fatalf("cache file: %v; want Fiber's nodes.json holding //Alice", err)
	}
	again := e2etest.StartFibergate(t, dir, e2etest.Env(), "serve", "--config", serveCfg)
	againAddr, _ := again.WaitReady(t)
	alice = e2etest.Alice.Client(t, againAddr)
	if err := alice.Handshake(ctx); err != nil {
		t.Errorf("after a restart with the chain down: //Alice: %v, want the cached list to admit her", err)
	}
	low := e2etest.Seeded(lowSeed).Client(t, againAddr)
	if got := refusal(t, low.Handshake(ctx)); got != "403 insufficient_stake" {
		t.Errorf("after a restart: uid 24 got %q, want 403 insufficient_stake", got)
	}

	// A cache dated a year ahead (a clock that ran ahead, a copied file)
	// must not pass for fresh: with the chain down and stale: refuse, the
	// refuse instance restarted on it refuses chain-listed validators and
	// is not ready, instead of serving them for a year.
	refuse.Signal(t, syscall.SIGTERM)
	refuse.WaitExit(t, e2etest.ExitTimeout)
	future := filepath.Join(dir, "refuse-chain-nodes.json")
	if err := os.WriteFile(future, cache, 0o600); err != nil {
		t.Fatal(err)
	}
	ahead := time.Now().Add(365 * 24 * time.Hour)
	if err := os.Chtimes(future, ahead, ahead); err != nil {
		t.Fatal(err)
	}
	dated := e2etest.StartFibergate(t, dir, e2etest.Env(), "serve", "--config", refuseCfg)
	datedAddr, datedAdmin := dated.WaitUp(t)
	if st, body := e2etest.Get("http://" + datedAdmin + "/readyz"); st != http.StatusServiceUnavailable || !strings.Contains(body, "stale") {
		t.Errorf("a cache dated a year ahead: /readyz %d %q, want 503 stale", st, body)
	}
	alice = e2etest.Alice.Client(t, datedAddr)
	if got := refusal(t, alice.Handshake(ctx)); got != "403 unknown_validator" {
		t.Errorf("a cache dated a year ahead: //Alice got %q, want 403 unknown_validator", got)
	}
	if !strings.Contains(dated.Stderr.String(), "dated in the future") {
		t.Errorf("the log does not say the cache is dated in the future:\n%s", dated.Stderr.String())
	}
}

func pubOf(t *testing.T, addr string) [32]byte {
	t.Helper()
	pub, _, err := ss58.Decode(addr)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// key32 returns a public key that is in no fixture, and its address.
func key32(b byte) ([32]byte, string) {
	var pub [32]byte
	for i := range pub {
		pub[i] = b ^ byte(i*7)
	}
	return pub, ss58.Encode(pub, ss58.Bittensor)
}
