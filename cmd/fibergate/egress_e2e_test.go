//go:build unix

package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/internal/e2etest"
	"github.com/fibergate/fibergate/internal/fibertest"
	"github.com/fibergate/fibergate/keystore"
)

// //Charlie is a miner no fibergate here stands in front of; //Dave
// (e2etest.Dave) is a validator listed with too little stake.
const (
	charlieSS58    = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y"
	egressHeaderEr = "X-Fibergate-Error"
)

// serveConfig writes a serve config in dir fronting app as //Bob on
// listen: //Alice staked, //Dave under the minimum, an encrypted stream
// route, a signed route, and extra lines.
func serveConfig(t *testing.T, dir, listen, app string, extra ...string) string {
	t.Helper()
	cfg := fmt.Sprintf(`listen: %q
admin_listen: %q
upstream: {url: %q, timeout: 20s}
miner: {hotkey: %q}
validators:
  min_stake: 1000
  static:
    - {hotkey: %q, stake: 5000}
    - {hotkey: %q, stake: 10}
routes:
  - {path: "/stream/*", mode: encrypted, response: encrypted}
  - {path: "/signed/*", mode: signed}
shutdown_grace: 2s
%s
`, listen, e2etest.FreeAddr(t), app, e2etest.Bob.SS58, e2etest.Alice.SS58, e2etest.Dave.SS58, strings.Join(extra, "\n"))
	if !strings.Contains(cfg, "rate_limits:") {
		cfg += "rate_limits: {per_ip: {per_second: 0}}\n"
	}
	path := filepath.Join(dir, "serve.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// egressConfig writes an egress config in dir with the given miners (YAML
// flow items) and extra lines; the validator's seed comes from
// $VALIDATOR_SEED.
func egressConfig(t *testing.T, dir string, miners []string, extra ...string) string {
	t.Helper()
	cfg := fmt.Sprintf(`listen: "127.0.0.1:0"
admin_listen: %q
validator: {seed_env: VALIDATOR_SEED}
miners:
  static:
    - %s
routes: [{path: "/signed/*", mode: signed}]
shutdown_grace: 2s
%s
`, e2etest.FreeAddr(t), strings.Join(miners, "\n    - "), strings.Join(extra, "\n"))
	path := filepath.Join(dir, fmt.Sprintf("egress-%d.yaml", time.Now().UnixNano()))
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// egressAnswer is what a caller of egress got.
type egressAnswer struct {
	status int
	header http.Header
	body   string
	err    error
}

func egressPost(t *testing.T, url, body string, hdr ...string) egressAnswer {
	t.Helper()
	return egressDo(t, http.MethodPost, url, body, hdr...)
}

func egressDo(t *testing.T, method, url, body string, hdr ...string) egressAnswer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{Timeout: e2etest.IOTimeout}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return egressAnswer{resp.StatusCode, resp.Header, string(b), err}
}

// egress in front of a real `fibergate serve`: every mode, streams, the
// encrypted answers decrypted with their Content-Type back, one exchange
// for many concurrent requests, a restart of serve without persistence
// (a new RSA key, no keys) costing the caller nothing, a miner listed with
// the wrong hotkey, a validator without the stake.
func TestEgressAgainstServe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	app := e2etest.DemoApp(t)
	serveAddr := e2etest.FreeAddr(t)
	scfg := serveConfig(t, dir, serveAddr, app)
	sv := e2etest.StartFibergate(t, dir, e2etest.Env(), "serve", "--config", scfg)
	_, sAdmin := sv.WaitReady(t)

	ecfg := egressConfig(t, dir, []string{
		fmt.Sprintf(`{hotkey: %q, address: "http://%s", uid: 0}`, e2etest.Bob.SS58, serveAddr),
		fmt.Sprintf(`{hotkey: %q, address: "http://%s", uid: 1}`, charlieSS58, serveAddr),
	})
	eg := e2etest.StartFibergate(t, dir, e2etest.Env("VALIDATOR_SEED="+e2etest.Alice.SeedHex), "egress", "--config", ecfg)
	eAddr, eAdmin := eg.WaitEgress(t)
	base := "http://" + eAddr

	// 200 requests at once to a miner without a key: one exchange, counted
	// by serve.
	var wg sync.WaitGroup
	fails := make(chan string, 200)
	for i := range 200 {
		wg.Go(func() {
			a := egressPost(t, base+"/miner/"+e2etest.Bob.SS58+"/echo", fmt.Sprintf(`{"i":%d}`, i))
			if a.status != 200 || !strings.Contains(a.body, fmt.Sprintf(`"i":%d`, i)) {
				fails <- fmt.Sprintf("%d: %d %s", i, a.status, a.body)
			}
		})
	}
	wg.Wait()
	close(fails)
	for f := range fails {
		t.Error(f)
	}
	if n := metricValue(t, e2etest.Scrape(t, sAdmin), `fibergate_handshakes_total{result="ok"}`); n != 1 {
		t.Errorf("serve saw %v exchanges for 200 concurrent requests, want 1", n)
	}

	// Encrypted: the app got the body with Fiber's inner nonce, from
	// //Alice; serve encrypted its answer, egress decrypted it.
	a := egressPost(t, base+"/uid/0/echo?q=1", `{"prompt":"hi","big":123456789012345678901}`)
	if a.status != 200 || a.header.Get("X-Demo-Validator") != e2etest.Alice.SS58 || a.header.Get("Content-Type") != "application/json" ||
		!strings.Contains(a.body, `"big":123456789012345678901`) || !strings.Contains(a.body, `"nonce": "`) ||
		a.header.Get("X-Fiber-Encrypted") != "" {
		t.Errorf("encrypted: %d %v %s", a.status, a.header, a.body)
	}
	// A stream serve encrypts line by line: decrypted, lines as sent, the
	// app's Content-Type back.
	a = egressPost(t, base+"/uid/0/stream/tokens", `{"lines":4,"delay_ms":10}`)
	if a.status != 200 || a.err != nil || strings.Count(a.body, "\n") != 4 || !strings.HasPrefix(a.body, `{"i":0,"of":4,"validator":"`+e2etest.Alice.SS58) ||
		a.header.Get("Content-Type") != "application/x-ndjson" {
		t.Errorf("stream: %d %v %q %v", a.status, a.err, a.body, a.header)
	}
	// Signed mode: the body byte for byte, no key.
	a = egressPost(t, base+"/uid/0/signed/echo", "{ \"kept\" :  true }")
	if a.status != 200 || a.body != "{ \"kept\" :  true }" || a.header.Get("X-Demo-Validator") != e2etest.Alice.SS58 {
		t.Errorf("signed: %d %s", a.status, a.body)
	}
	// A signed GET and an encrypted GET.
	for _, p := range []string{"/uid/0/signed/status", "/uid/0/status"} {
		if a := egressDo(t, http.MethodGet, base+p, ""); a.status != 200 || !strings.Contains(a.body, `"method":"GET"`) {
			t.Errorf("GET %s: %d %s", p, a.status, a.body)
		}
	}

	// A miner listed with another hotkey than serve's: serve's refusal,
	// relayed as the miner's.
	a = egressPost(t, base+"/uid/1/echo", `{}`)
	if a.status != 401 || a.header.Get(egressHeaderEr) != "" || !strings.Contains(a.body, "wrong_miner") {
		t.Errorf("wrong miner hotkey: %d %q %s", a.status, a.header.Get(egressHeaderEr), a.body)
	}

	// serve restarts without persistence: a fresh RSA key and no keys.
	sv.Signal(t, syscall.SIGTERM)
	if code := sv.WaitExit(t, e2etest.ExitTimeout); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	sv = e2etest.StartFibergate(t, dir, e2etest.Env(), "serve", "--config", scfg)
	_, sAdmin = sv.WaitReady(t)
	a = egressPost(t, base+"/miner/"+e2etest.Bob.SS58+"/echo", `{"after":"restart"}`)
	if a.status != 200 || !strings.Contains(a.body, `"after":"restart"`) {
		t.Errorf("after serve's restart: %d %s", a.status, a.body)
	}
	if n := metricValue(t, e2etest.Scrape(t, eAdmin), `fibergate_egress_handshakes_total{result="ok",trigger="unknown_key"}`); n != 1 {
		t.Errorf("egress exchanges for an unknown key: %v, want 1", n)
	}
	if n := metricValue(t, e2etest.Scrape(t, sAdmin), `fibergate_requests_total{result="unknown_key",route="default"}`); n != 1 {
		t.Errorf("serve answered unknown_key %v times, want 1", n)
	}

	// //Dave has too little stake: serve's 403, relayed.
	eg2 := e2etest.StartFibergate(t, dir, e2etest.Env("VALIDATOR_SEED="+e2etest.Dave.SeedHex), "egress", "--config",
		egressConfig(t, dir, []string{fmt.Sprintf(`{hotkey: %q, address: "http://%s"}`, e2etest.Bob.SS58, serveAddr)}))
	dAddr, _ := eg2.WaitEgress(t)
	a = egressPost(t, "http://"+dAddr+"/miner/"+e2etest.Bob.SS58+"/echo", `{}`)
	if a.status != 403 || a.header.Get(egressHeaderEr) != "" || !strings.Contains(a.body, "insufficient_stake") {
		t.Errorf("low stake: %d %q %s", a.status, a.header.Get(egressHeaderEr), a.body)
	}

	// Egress's own errors carry X-Fibergate-Error.
	a = egressPost(t, base+"/miner/"+charlieSS58+"x/echo", `{}`)
	if a.status != 400 || a.header.Get(egressHeaderEr) != "bad_target" {
		t.Errorf("bad target: %d %q", a.status, a.header.Get(egressHeaderEr))
	}
}

// serve's rate limit answers 429 with Retry-After; egress relays it as the
// miner's.
func TestEgressRelays429(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	serveAddr := e2etest.FreeAddr(t)
	sv := e2etest.StartFibergate(t, dir, e2etest.Env(), "serve", "--config",
		serveConfig(t, dir, serveAddr, e2etest.DemoApp(t), "rate_limits: {per_ip: {per_second: 0}, per_validator: {per_second: 0.2, burst: 3}}"))
	sv.WaitReady(t)
	eg := e2etest.StartFibergate(t, dir, e2etest.Env("VALIDATOR_SEED="+e2etest.Alice.SeedHex), "egress", "--config",
		egressConfig(t, dir, []string{fmt.Sprintf(`{hotkey: %q, address: "http://%s"}`, e2etest.Bob.SS58, serveAddr)}))
	eAddr, _ := eg.WaitEgress(t)
	got429 := false
	for i := range 10 {
		a := egressPost(t, "http://"+eAddr+"/miner/"+e2etest.Bob.SS58+"/echo", `{}`)
		if a.status == 429 {
			if a.header.Get("Retry-After") == "" || a.header.Get(egressHeaderEr) != "" || !strings.Contains(a.body, "rate_limited") {
				t.Errorf("429: %v %s", a.header, a.body)
			}
			got429 = true
			break
		}
		if a.status != 200 {
			t.Fatalf("request %d: %d %s", i, a.status, a.body)
		}
	}
	if !got429 {
		t.Error("10 requests over a limit of 3 got no 429")
	}
}

// With keys.persist_file, keys survive egress's restart: the restarted
// egress uses the key it had, no new exchange.
func TestEgressKeysSurviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	serveAddr := e2etest.FreeAddr(t)
	sv := e2etest.StartFibergate(t, dir, e2etest.Env(), "serve", "--config", serveConfig(t, dir, serveAddr, e2etest.DemoApp(t)))
	_, sAdmin := sv.WaitReady(t)
	storage := keystore.GenerateStorageKey()
	env := e2etest.Env("VALIDATOR_SEED="+e2etest.Alice.SeedHex, "FIBERGATE_EGRESS_STORAGE_KEY="+storage)
	ecfg := egressConfig(t, dir, []string{fmt.Sprintf(`{hotkey: %q, address: "http://%s"}`, e2etest.Bob.SS58, serveAddr)},
		fmt.Sprintf("keys: {persist_file: %q}", filepath.Join(dir, "egress-keys")))
	eg := e2etest.StartFibergate(t, dir, env, "egress", "--config", ecfg)
	eAddr, _ := eg.WaitEgress(t)
	if a := egressPost(t, "http://"+eAddr+"/miner/"+e2etest.Bob.SS58+"/echo", `{"n":1}`); a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	eg.Signal(t, syscall.SIGTERM)
	if code := eg.WaitExit(t, e2etest.ExitTimeout); code != 0 {
		t.Fatalf("egress exited %d", code)
	}
	if !strings.Contains(eg.Stderr.String(), `msg="key snapshot saved" keys=1`) {
		t.Errorf("no snapshot saved at shutdown:\n%s", eg.Stderr.String())
	}
	eg = e2etest.StartFibergate(t, dir, env, "egress", "--config", ecfg)
	eAddr, _ = eg.WaitEgress(t)
	if a := egressPost(t, "http://"+eAddr+"/miner/"+e2etest.Bob.SS58+"/echo", `{"n":2}`); a.status != 200 {
		t.Fatalf("after restart: %d %s", a.status, a.body)
	}
	if n := metricValue(t, e2etest.Scrape(t, sAdmin), `fibergate_handshakes_total{result="ok"}`); n != 1 {
		t.Errorf("serve saw %v exchanges across egress's restart, want 1", n)
	}
	// A wrong storage key refuses to start rather than drop the keys.
	bad := e2etest.StartFibergate(t, dir, e2etest.Env("VALIDATOR_SEED="+e2etest.Alice.SeedHex, "FIBERGATE_EGRESS_STORAGE_KEY="+keystore.GenerateStorageKey()), "egress", "--config", ecfg)
	if code := bad.WaitExit(t, e2etest.ExitTimeout); code == 0 || !strings.Contains(bad.Stderr.String(), "keys.persist_file") {
		t.Errorf("wrong storage key: exit %d, %s", code, bad.Stderr.String())
	}
}

// The egress binary against a far end that answers as Fiber's Python miner
// does: encrypted requests and streams, a miner restart (fresh RSA key,
// Fiber's 400 for the unknown key) and FastAPI's 422 relayed.
func TestEgressAgainstFiberMiner(t *testing.T) {
	t.Parallel()
	alice := e2etest.Alice.Keypair(t)
	minerKey, err := sr25519.KeypairFromSeed([32]byte{42})
	if err != nil {
		t.Fatal(err)
	}
	m, err := fibertest.Start(fibertest.Options{Hotkey: minerKey, Stakes: map[[32]byte]float64{alice.Public(): 5000}, MinStake: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	miner := ss58.Encode(minerKey.Public(), ss58.Bittensor)
	dir := t.TempDir()
	eg := e2etest.StartFibergate(t, dir, e2etest.Env("VALIDATOR_SEED="+e2etest.Alice.SeedHex), "egress", "--config",
		egressConfig(t, dir, []string{fmt.Sprintf(`{hotkey: %q, address: %q}`, miner, m.URL())}))
	eAddr, _ := eg.WaitEgress(t)
	base := "http://" + eAddr + "/miner/" + miner
	a := egressPost(t, base+"/echo", `{"prompt":"What is 2+2?","max_tokens":16}`)
	if a.status != 200 || !strings.HasPrefix(a.body, `{"prompt":"What is 2+2?","max_tokens":16, "nonce": "`) {
		t.Errorf("echo: %d %s", a.status, a.body)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/echo-stream", strings.NewReader(`{"lines":3}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	resp.Body.Close()
	if len(lines) != 3 || lines[2] != `{"i": 2, "of": 3}` || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Errorf("stream: %q %v", lines, resp.Header)
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	if a := egressPost(t, base+"/echo", `{"again":1}`); a.status != 200 || m.Exchanges() != 1 {
		t.Errorf("after the miner's restart: %d %s, %d exchanges", a.status, a.body, m.Exchanges())
	}
	a = egressPost(t, base+"/echo", `{}`, "X-Fibergate-Mode", "signed")
	if a.status != 422 || a.header.Get(egressHeaderEr) != "" || !strings.Contains(a.body, "field required") {
		t.Errorf("422: %d %q %s", a.status, a.header.Get(egressHeaderEr), a.body)
	}
}

// check-config validates an egress file too, telling it from serve's by
// its keys, and lists every problem with its key and line.
func TestCheckConfigEgress(t *testing.T) {
	t.Parallel()
	root := e2etest.Root()
	r := runFibergate(t, root, e2etest.Env(), "check-config", "--config", "egress.yaml")
	if r.code != 0 || !strings.Contains(r.stdout, "egress.yaml is a valid egress config") || !strings.Contains(r.stdout, "max_in_flight_per_miner: 512") {
		t.Errorf("egress.yaml: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listen: \"0.0.0.0:8090\"\nvalidator: {}\nminers:\n  static: [{hotkey: x, address: \"http://h\"}]\ntimeouts: {total: 0s}\n"), 0o600)
	r = runFibergate(t, dir, e2etest.Env(), "check-config", "--config", bad)
	for _, want := range []string{"bad.yaml:1: listen:", "bad.yaml:2: validator:", "bad.yaml:4: miners.static[0].hotkey:",
		"bad.yaml:4: miners.static[0].address:", "bad.yaml:5: timeouts.total:"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("missing %q in:\n%s", want, r.stderr)
		}
	}
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	r = runFibergate(t, root, e2etest.Env(), "check-config", "--kind", "egress", "--config", "config.yaml")
	if r.code != 1 || !strings.Contains(r.stderr, "upstream: unknown key") {
		t.Errorf("config.yaml as egress's: exit %d %s", r.code, r.stderr)
	}
	mixed := filepath.Join(dir, "mixed.yaml")
	os.WriteFile(mixed, []byte("upstream: {url: \"http://127.0.0.1:9000\"}\nminers: {}\n"), 0o600)
	if r = runFibergate(t, dir, e2etest.Env(), "check-config", "--config", mixed); r.code != 1 || !strings.Contains(r.stderr, "--kind") {
		t.Errorf("mixed: exit %d %s", r.code, r.stderr)
	}
}

// The quick start's demo through egress: config.yaml's serve with its demo
// app, egress.yaml's egress (the demo miner's address and the ports moved
// to free ones), and the README's curl.
func TestEgressQuickStart(t *testing.T) {
	t.Parallel()
	root := e2etest.Root()
	sv := e2etest.StartFibergate(t, root, e2etest.Env("FIBERGATE_LISTEN=127.0.0.1:0", "FIBERGATE_ADMIN_LISTEN="+e2etest.FreeAddr(t),
		"FIBERGATE_UPSTREAM_URL=http://"+e2etest.FreeAddr(t)), "serve", "--config", "config.yaml", "--demo-upstream")
	sAddr, _ := sv.WaitReady(t)
	shipped, err := os.ReadFile(filepath.Join(root, "egress.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(shipped), `address: "http://127.0.0.1:8080"`) {
		t.Fatal("egress.yaml no longer lists the demo miner at config.yaml's listen address")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "egress.yaml")
	os.WriteFile(cfg, []byte(strings.Replace(string(shipped), "127.0.0.1:8080", sAddr, 1)), 0o600)
	eg := e2etest.StartFibergate(t, dir, e2etest.Env("VALIDATOR_SEED="+e2etest.Alice.SeedHex, "FIBERGATE_EGRESS_LISTEN=127.0.0.1:0",
		"FIBERGATE_EGRESS_ADMIN_LISTEN="+e2etest.FreeAddr(t)), "egress", "--config", cfg)
	eAddr, _ := eg.WaitEgress(t)
	// curl 127.0.0.1:8090/miner/<demo miner>/echo -d '{"prompt":"hi"}'
	a := egressPost(t, "http://"+eAddr+"/miner/"+e2etest.Bob.SS58+"/echo", `{"prompt":"hi"}`, "Content-Type", "application/x-www-form-urlencoded")
	if a.status != 200 || !strings.HasPrefix(a.body, `{"prompt":"hi", "nonce": "`) || a.header.Get("X-Demo-Validator") != e2etest.Alice.SS58 {
		t.Errorf("the quick start's curl: %d %s %v", a.status, a.body, a.header)
	}
}

// egress handles signals as serve does: SIGHUP re-reads the miner sources
// (a nodes file replaced by one of the same size and modification time,
// as cp -p leaves it, included), SIGUSR1, SIGUSR2 and SIGPIPE change
// nothing, and SIGQUIT stops it gracefully with its keys saved.
func TestEgressSignals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	serveAddr := e2etest.FreeAddr(t)
	sv := e2etest.StartFibergate(t, dir, e2etest.Env(), "serve", "--config", serveConfig(t, dir, serveAddr, e2etest.DemoApp(t)))
	sv.WaitReady(t)
	host, port, _ := net.SplitHostPort(serveAddr)
	nodes := filepath.Join(dir, "nodes.json")
	writeNodes := func(uid int) {
		// The same length whatever uid (one digit), and the same time.
		body := fmt.Sprintf(`[{"hotkey": %q, "node_id": %d, "ip": %q, "port": %s, "ip_type": 4, "stake": 1}]`, e2etest.Bob.SS58, uid, host, port)
		tmp := nodes + ".new"
		if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		stamp := time.Unix(1_700_000_000, 0)
		if err := os.Chtimes(tmp, stamp, stamp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, nodes); err != nil {
			t.Fatal(err)
		}
	}
	writeNodes(1)
	storage := keystore.GenerateStorageKey()
	env := e2etest.Env("VALIDATOR_SEED="+e2etest.Alice.SeedHex, "FIBERGATE_EGRESS_STORAGE_KEY="+storage)
	// A poll far too slow to see the change: SIGHUP must.
	ecfg := filepath.Join(dir, "egress.yaml")
	cfg := fmt.Sprintf(`listen: "127.0.0.1:0"
admin_listen: %q
validator: {seed_env: VALIDATOR_SEED}
miners: {nodes_file: %q, nodes_file_poll: 1h}
keys: {persist_file: %q}
shutdown_grace: 2s
`, e2etest.FreeAddr(t), nodes, filepath.Join(dir, "egress-keys"))
	if err := os.WriteFile(ecfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	eg := e2etest.StartFibergate(t, dir, env, "egress", "--config", ecfg)
	eAddr, _ := eg.WaitEgress(t)
	post := func(uid int) egressAnswer {
		return egressPost(t, fmt.Sprintf("http://%s/uid/%d/echo", eAddr, uid), `{"n":1}`)
	}
	if a := post(1); a.status != 200 {
		t.Fatalf("uid 1 before any signal: %d %s", a.status, a.body)
	}
	for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGPIPE} {
		eg.Signal(t, sig)
		time.Sleep(100 * time.Millisecond)
		if eg.Exited() {
			t.Fatalf("egress exited on %v", sig)
		}
		if a := post(1); a.status != 200 {
			t.Fatalf("after %v: %d %s", sig, a.status, a.body)
		}
	}
	writeNodes(2)
	eg.Signal(t, syscall.SIGHUP)
	e2etest.WaitFor(t, 10*time.Second, "uid 2 listed after SIGHUP", func() bool { return post(2).status == 200 })
	if eg.Exited() {
		t.Fatal("egress exited on SIGHUP")
	}
	if a := post(1); a.status != 404 {
		t.Errorf("uid 1 after the nodes file replaced it: %d %s, want 404 unknown_miner", a.status, a.body)
	}
	eg.Signal(t, syscall.SIGQUIT)
	if code := eg.WaitExit(t, e2etest.ExitTimeout); code != 0 {
		t.Fatalf("egress exited %d on SIGQUIT", code)
	}
	if !strings.Contains(eg.Stderr.String(), `msg="key snapshot saved" keys=1`) {
		t.Errorf("no snapshot saved at SIGQUIT:\n%s", eg.Stderr.String())
	}
}
