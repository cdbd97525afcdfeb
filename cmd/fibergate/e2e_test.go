//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/internal/e2etest"
	"github.com/fibergate/fibergate/keystore"
	"go.yaml.in/yaml/v3"
)

// A Fiber nonce: "<unix ns>_<10 letters or digits>".
var fiberNonce = regexp.MustCompile(`^[0-9]+_[A-Za-z0-9]{10}$`)

// TestQuickStart runs the README's first command on the bundled config.yaml
// and then the client commands the hint it prints says to run.
func TestQuickStart(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"127.0.0.1:8080", "127.0.0.1:9000", "127.0.0.1:9100"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("the quick start needs config.yaml's fixed ports and %s is already taken on this machine: %v", addr, err)
		}
		ln.Close()
	}
	root := e2etest.Root()
	p := e2etest.StartFibergate(t, root, e2etest.Env(), "serve", "--config", "config.yaml", "--demo-upstream")
	addr, _ := p.WaitReady(t)
	if addr != "127.0.0.1:8080" {
		t.Errorf("listening on %s, want config.yaml's 127.0.0.1:8080", addr)
	}

	hint := p.WaitStdout(t, "Metrics:", 10*time.Second)
	const goRun = "go run ./cmd/fibergate "
	var cmds [][]string
	var metricsURL string
	for _, line := range strings.Split(hint, "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, goRun); ok {
			words, err := shellWords(rest)
			if err != nil {
				t.Fatalf("hint line %q: %v", line, err)
			}
			cmds = append(cmds, words)
		}
		if m := regexp.MustCompile(`curl -s (http://\S+/metrics)`).FindStringSubmatch(line); m != nil {
			metricsURL = m[1]
		}
	}
	if len(cmds) != 2 || len(cmds[0]) < 2 || len(cmds[1]) < 2 ||
		cmds[0][0] != "client" || cmds[0][1] != "post" || cmds[1][0] != "client" || cmds[1][1] != "stream" {
		t.Fatalf("hint commands: got %q, want a client post and a client stream", cmds)
	}
	if metricsURL == "" {
		t.Fatalf("hint names no metrics URL:\n%s", hint)
	}

	// The post: the demo app echoes the decrypted body, which is what was
	// sent plus the "nonce" field Fiber's client adds.
	post := runFibergate(t, root, e2etest.Env(), cmds[0]...)
	if post.code != 0 {
		t.Fatalf("client post: exit %d, want 0; stderr: %s", post.code, post.stderr)
	}
	var sent map[string]any
	if err := json.Unmarshal([]byte(flagValue(t, cmds[0], "--data")), &sent); err != nil {
		t.Fatalf("hint's post --data: %v", err)
	}
	var echo map[string]any
	if err := json.Unmarshal([]byte(post.stdout), &echo); err != nil {
		t.Fatalf("client post printed %q, not a JSON object: %v", post.stdout, err)
	}
	for k, v := range sent {
		if echo[k] != v {
			t.Errorf("echo[%q]: got %v, want %v (sent)", k, echo[k], v)
		}
	}
	if n, _ := echo["nonce"].(string); !fiberNonce.MatchString(n) {
		t.Errorf("echo nonce: got %v, want a Fiber nonce", echo["nonce"])
	}
	if len(echo) != len(sent)+1 {
		t.Errorf("echo: got %v, want the %d sent fields plus nonce", echo, len(sent))
	}

	// The stream: one decrypted NDJSON line per line asked for.
	stream := runFibergate(t, root, e2etest.Env(), cmds[1]...)
	if stream.code != 0 {
		t.Fatalf("client stream: exit %d, want 0; stderr: %s", stream.code, stream.stderr)
	}
	var ask struct{ Lines int }
	if err := json.Unmarshal([]byte(flagValue(t, cmds[1], "--data")), &ask); err != nil || ask.Lines < 1 {
		t.Fatalf("hint's stream --data: want {\"lines\":N}, got err %v, lines %d", err, ask.Lines)
	}
	lines := strings.Split(strings.TrimSuffix(stream.stdout, "\n"), "\n")
	if len(lines) != ask.Lines {
		t.Fatalf("client stream printed %d lines, want %d:\n%s", len(lines), ask.Lines, stream.stdout)
	}
	for i, l := range lines {
		checkStreamLine(t, l, i, ask.Lines)
	}

	// Each client command handshook once.
	status, body := e2etest.Get(metricsURL)
	if status != http.StatusOK {
		t.Fatalf("GET %s: got %d, want 200", metricsURL, status)
	}
	if got := metricValue(t, body, `fibergate_handshakes_total{result="ok"}`); got != 2 {
		t.Errorf(`fibergate_handshakes_total{result="ok"}: got %v, want 2`, got)
	}

	readyz := strings.TrimSuffix(metricsURL, "/metrics") + "/readyz"
	if status, body := e2etest.Get(readyz); status != http.StatusOK {
		t.Errorf("/readyz with the demo app up: got %d %q, want 200", status, body)
	}

	p.Signal(t, syscall.SIGTERM)
	if code := p.WaitExit(t, e2etest.ExitTimeout); code != 0 {
		t.Errorf("exit after SIGTERM: got %d, want 0", code)
	}
}

// flagValue returns the word after name in args.
func flagValue(t *testing.T, args []string, name string) string {
	t.Helper()
	for i := 0; i+1 < len(args); i++ {
		if args[i] == name {
			return args[i+1]
		}
	}
	t.Fatalf("%q has no %s", args, name)
	return ""
}

// checkStreamLine checks one line of the demo app's stream as //Alice.
func checkStreamLine(t *testing.T, line string, i, of int) {
	t.Helper()
	var got struct {
		I, Of     int
		Validator string
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Errorf("stream line %d: %q is not JSON: %v", i, line, err)
		return
	}
	if got.I != i || got.Of != of || got.Validator != e2etest.Alice.SS58 {
		t.Errorf("stream line %d: got %+v, want i=%d of=%d validator=%s", i, got, i, of, e2etest.Alice.SS58)
	}
}

func TestCheckConfig(t *testing.T) {
	t.Parallel()
	root := e2etest.Root()
	bundled := filepath.Join(root, "config.yaml")

	// effective parses check-config's output.
	type effective struct {
		Listen      string
		AdminListen string `yaml:"admin_listen"`
		Upstream    struct{ URL string }
		Miner       struct{ Hotkey string }
		NonceWindow string `yaml:"nonce_window"`
		Validators  struct {
			MinStake float64 `yaml:"min_stake"`
			Static   []struct {
				Hotkey string
				Stake  float64
			}
		}
	}
	parse := func(t *testing.T, r result) effective {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("exit %d, want 0; stderr: %s", r.code, r.stderr)
		}
		if !strings.Contains(r.stdout, "is valid") {
			t.Errorf("stdout does not say the config is valid:\n%s", r.stdout)
		}
		var e effective
		if err := yaml.Unmarshal([]byte(r.stdout), &e); err != nil {
			t.Fatalf("effective config is not YAML: %v\n%s", err, r.stdout)
		}
		return e
	}

	t.Run("bundled", func(t *testing.T) {
		t.Parallel()
		r := runFibergate(t, root, e2etest.Env(), "check-config", "--config", bundled)
		for _, want := range []string{"# restarts: no keystore.persist_file", "# file descriptors: the config can use up to 10576"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("check-config does not say %q:\n%s", want, r.stdout)
			}
		}
		e := parse(t, r)
		if e.Listen != "127.0.0.1:8080" || e.AdminListen != "127.0.0.1:9100" || e.Upstream.URL != "http://127.0.0.1:9000" {
			t.Errorf("addresses: got listen %q admin %q upstream %q, want config.yaml's", e.Listen, e.AdminListen, e.Upstream.URL)
		}
		if e.Miner.Hotkey != e2etest.Bob.SS58 {
			t.Errorf("miner.hotkey: got %q, want %q", e.Miner.Hotkey, e2etest.Bob.SS58)
		}
		if e.NonceWindow != "2m" {
			t.Errorf("nonce_window: got %q, want 2m (config.yaml's 120s)", e.NonceWindow)
		}
		if e.Validators.MinStake != 1000 || len(e.Validators.Static) != 1 ||
			e.Validators.Static[0].Hotkey != e2etest.Alice.SS58 || e.Validators.Static[0].Stake != 5000 {
			t.Errorf("validators: got %+v, want min_stake 1000 and //Alice with 5000", e.Validators)
		}
	})

	t.Run("env override", func(t *testing.T) {
		t.Parallel()
		const url = "http://127.0.0.1:9555"
		e := parse(t, runFibergate(t, root, e2etest.Env("FIBERGATE_UPSTREAM_URL="+url), "check-config", "--config", bundled))
		if e.Upstream.URL != url {
			t.Errorf("upstream.url: got %q, want %q from FIBERGATE_UPSTREAM_URL", e.Upstream.URL, url)
		}
	})

	// The rate the replay guard's budget covers, as replay.RateCovered
	// computes it: twice the budget, twice the rate.
	t.Run("replay coverage", func(t *testing.T) {
		t.Parallel()
		for env, want := range map[string]string{
			"":                                   "# replay.max_memory 64MiB covers about 19,579 requests a second (two nonces each, kept for nonce_window 120s)",
			"FIBERGATE_REPLAY_MAX_MEMORY=128MiB": "# replay.max_memory 128MiB covers about 39,200 requests a second",
			"FIBERGATE_NONCE_WINDOW=60s":         "# replay.max_memory 64MiB covers about 38,522 requests a second (two nonces each, kept for nonce_window 60s)",
			"FIBERGATE_KEYSTORE_BACKEND=redis":   "# keystore.backend redis: Redis holds the nonces (replay.max_memory is not used), about 26 MB at 10,000 requests a second with nonce_window 120s, 114 MB at 50,000",
		} {
			var extra []string
			if env != "" {
				extra = append(extra, env)
			}
			r := runFibergate(t, root, e2etest.Env(extra...), "check-config", "--config", bundled)
			parse(t, r)
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%s: stdout does not say %q:\n%s", env, want, r.stdout)
			}
		}
	})

	t.Run("bad env value", func(t *testing.T) {
		t.Parallel()
		r := runFibergate(t, root, e2etest.Env("FIBERGATE_NONCE_WINDOW=soon"), "check-config", "--config", bundled)
		if r.code != 1 {
			t.Errorf("exit: got %d, want 1", r.code)
		}
		if !strings.Contains(r.stderr, "FIBERGATE_NONCE_WINDOW") {
			t.Errorf("stderr does not name FIBERGATE_NONCE_WINDOW:\n%s", r.stderr)
		}
	})

	t.Run("unknown key and bad duration", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		bad := filepath.Join(dir, "bad.yaml")
		content := strings.Join([]string{
			`listen: "127.0.0.1:0"`,
			`upstream:`,
			`  url: "http://127.0.0.1:9000"`,
			`  timout: 5s`, // line 4: unknown key
			`miner:`,
			`  hotkey: "` + e2etest.Bob.SS58 + `"`,
			`nonce_window: 2 minutes`, // line 7: not a Go duration
			`validators:`,
			`  static:`,
			`    - {hotkey: "` + e2etest.Alice.SS58 + `", stake: 5000}`,
		}, "\n") + "\n"
		if err := os.WriteFile(bad, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		r := runFibergate(t, root, e2etest.Env(), "check-config", "--config", bad)
		if r.code != 1 {
			t.Errorf("exit: got %d, want 1", r.code)
		}
		if r.stdout != "" {
			t.Errorf("stdout: got %q, want nothing for an invalid config", r.stdout)
		}
		for _, want := range []string{bad + ":4: upstream.timout", bad + ":7: nonce_window"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr does not contain %q:\n%s", want, r.stderr)
			}
		}
	})
}

func TestKeygen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "handshake.pem")
	r := runFibergate(t, dir, e2etest.Env(), "keygen", "--out", keyFile)
	if r.code != 0 {
		t.Fatalf("keygen: exit %d, want 0; stderr: %s", r.code, r.stderr)
	}
	st, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode: got %04o, want 0600", perm)
	}
	written, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsakey.LoadFile(keyFile)
	if err != nil {
		t.Fatalf("keygen wrote a key rsakey cannot load: %v", err)
	}
	if bits := key.N.BitLen(); bits != 2048 {
		t.Errorf("key size: got %d bits, want 2048", bits)
	}
	wantPEM, err := rsakey.PublicPEM(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("no overwrite", func(t *testing.T) {
		r := runFibergate(t, dir, e2etest.Env(), "keygen", "--out", keyFile)
		if r.code != 1 {
			t.Errorf("keygen over an existing file: exit %d, want 1", r.code)
		}
		if !strings.Contains(r.stderr, "exists") {
			t.Errorf("stderr does not say the file exists: %q", r.stderr)
		}
		after, err := os.ReadFile(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(after, written) {
			t.Error("keygen changed the existing key file")
		}
	})

	t.Run("serve uses it", func(t *testing.T) {
		cfg := testConfig{upstreamURL: "http://" + e2etest.FreeAddr(t), rsaKeyFile: keyFile}.write(t, dir)
		p := e2etest.StartFibergate(t, dir, e2etest.Env(), "serve", "--config", cfg)
		addr, _ := p.WaitUp(t)
		status, body := e2etest.Get("http://" + addr + "/public-encryption-key")
		if status != http.StatusOK {
			t.Fatalf("GET /public-encryption-key: got %d %q, want 200", status, body)
		}
		var got struct {
			PublicKey string `json:"public_key"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("GET /public-encryption-key: %q: %v", body, err)
		}
		if got.PublicKey != string(wantPEM) {
			t.Errorf("public key served:\n%s\nwant the key file's:\n%s", got.PublicKey, wantPEM)
		}
		if strings.Contains(p.Stderr.String(), "fresh RSA key") {
			t.Error("serve made a fresh RSA key although handshake.rsa_key_file was set")
		}
	})
}

// writeNodes replaces path with a Fiber nodes.json listing //Alice with
// stake, through a rename so the poller never reads half a file.
func writeNodes(t *testing.T, path string, stake float64) {
	t.Helper()
	node := map[string]any{
		"hotkey": e2etest.Alice.SS58, "coldkey": e2etest.Alice.SS58, "node_id": 0, "incentive": 0.0, "netuid": 1,
		"alpha_stake": stake, "tao_stake": 0.0, "stake": stake, "trust": 0.0, "vtrust": 0.0,
		"last_updated": 0.0, "ip": "0.0.0.0", "ip_type": 4, "port": 0, "protocol": 4,
	}
	b, err := json.Marshal(map[string]any{e2etest.Alice.SS58: node})
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestNodesFileReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	nodes := filepath.Join(dir, "nodes.json")
	writeNodes(t, nodes, 5000)
	cfg := testConfig{upstreamURL: "http://" + e2etest.FreeAddr(t), nodesFile: nodes, nodesPoll: "200ms"}.write(t, dir)
	p := e2etest.StartFibergate(t, dir, e2etest.Env(), "serve", "--config", cfg)
	addr, _ := p.WaitUp(t)

	r := runFibergate(t, dir, e2etest.Env(), clientArgs("handshake", addr)...)
	if r.code != 0 || !strings.Contains(r.stdout, "key exchanged") {
		t.Fatalf("client handshake with stake 5000: exit %d, stdout %q, stderr %q; want exit 0 and a key", r.code, r.stdout, r.stderr)
	}

	writeNodes(t, nodes, 10) // below min_stake 1000
	deadline := time.Now().Add(15 * time.Second)
	for {
		r = runFibergate(t, dir, e2etest.Env(), clientArgs("handshake", addr)...)
		if r.code != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("client handshake still succeeds 15s after the nodes file lowered the stake to 10")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r.code != 1 {
		t.Errorf("client handshake refused: exit %d, want 1", r.code)
	}
	if !strings.Contains(r.stderr, "403 insufficient_stake") {
		t.Errorf("client handshake stderr: got %q, want the server's 403 insufficient_stake", r.stderr)
	}
	if p.Exited() {
		t.Error("fibergate exited during the reload")
	}
}

func TestPersistenceAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := writeRSAKey(t, dir)
	app := e2etest.DemoApp(t)
	snap := filepath.Join(dir, "keys.snapshot")
	// The same listen port every time, so one client can outlive a process.
	listen := e2etest.FreeAddr(t)
	cfg := testConfig{upstreamURL: app, rsaKeyFile: keyFile, persistFile: snap, listen: listen}.write(t, dir)
	env := e2etest.Env("FIBERGATE_STORAGE_KEY=" + keystore.GenerateStorageKey())

	ctx, cancel := context.WithTimeout(context.Background(), 2*e2etest.StartTimeout)
	defer cancel()
	post := func(t *testing.T, c *client.Client, prompt string) {
		t.Helper()
		resp, err := c.Post(ctx, "/echo", []byte(fmt.Sprintf(`{"prompt":%q}`, prompt)))
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		var echo struct{ Prompt, Nonce string }
		if err := json.Unmarshal(resp.Body, &echo); err != nil || echo.Prompt != prompt || !fiberNonce.MatchString(echo.Nonce) {
			t.Fatalf("post: got %q (%v), want the prompt %q echoed with a nonce", resp.Body, err, prompt)
		}
	}

	p := e2etest.StartFibergate(t, dir, env, "serve", "--config", cfg)
	addr, _ := p.WaitReady(t)
	if addr != listen {
		t.Fatalf("listening on %s, want %s", addr, listen)
	}
	c := e2etest.Alice.Handshaken(t, addr)
	key, uuid := c.Key()
	post(t, c, "before restart")
	p.Signal(t, syscall.SIGTERM)
	if code := p.WaitExit(t, e2etest.ExitTimeout); code != 0 {
		t.Fatalf("exit after SIGTERM: got %d, want 0", code)
	}

	saved, err := os.ReadFile(snap)
	if err != nil {
		t.Fatalf("no key snapshot after shutdown: %v", err)
	}
	if st, err := os.Stat(snap); err != nil {
		t.Error(err)
	} else if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("snapshot file mode: got %04o, want 0600", perm)
	}
	raw := key.Raw()
	for name, form := range map[string][]byte{
		"raw":                   raw[:],
		"url-safe base64":       []byte(base64.URLEncoding.EncodeToString(raw[:])),
		"url-safe base64 nopad": []byte(base64.RawURLEncoding.EncodeToString(raw[:])),
		"standard base64":       []byte(base64.StdEncoding.EncodeToString(raw[:])),
		"hex":                   []byte(hex.EncodeToString(raw[:])),
	} {
		if bytes.Contains(saved, form) {
			t.Errorf("the snapshot holds the symmetric key in clear (%s)", name)
		}
	}
	if bytes.Contains(saved, []byte(uuid)) {
		t.Error("the snapshot holds the key's uuid in clear")
	}

	p = e2etest.StartFibergate(t, dir, env, "serve", "--config", cfg)
	p.WaitReady(t)
	if _, u := c.Key(); u != uuid {
		t.Fatalf("client key uuid changed to %s; the test must reuse %s", u, uuid)
	}
	post(t, c, "after restart") // no handshake: the key came back from the snapshot
	p.Signal(t, syscall.SIGTERM)
	if code := p.WaitExit(t, e2etest.ExitTimeout); code != 0 {
		t.Fatalf("exit after the second SIGTERM: got %d, want 0", code)
	}

	before, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	wrongEnv := e2etest.Env("FIBERGATE_STORAGE_KEY=" + keystore.GenerateStorageKey())
	p = e2etest.StartFibergate(t, dir, wrongEnv, "serve", "--config", cfg)
	deadline := time.Now().Add(e2etest.StartTimeout)
	for !p.Exited() {
		if strings.Contains(p.Stderr.String(), "fibergate listening") {
			t.Fatal("with a wrong storage key: fibergate started serving")
		}
		if time.Now().After(deadline) {
			t.Fatalf("with a wrong storage key: fibergate still running %v later", e2etest.StartTimeout)
		}
		time.Sleep(e2etest.PollEvery)
	}
	if code := p.WaitExit(t, e2etest.ExitTimeout); code == 0 {
		t.Error("with a wrong storage key: exit 0, want a failure")
	}
	if log := p.Stderr.String(); !strings.Contains(log, snap) {
		t.Errorf("with a wrong storage key: stderr does not name the snapshot %s:\n%s", snap, log)
	}
	after, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("with a wrong storage key: the snapshot was rewritten")
	}
}

// serveDemo runs serve in front of its built-in demo app
// (--demo-upstream) with shutdown_grace grace, until it is ready, and
// returns the process and the address it listens on.
func serveDemo(t *testing.T, grace string) (*e2etest.Process, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig{upstreamURL: "http://" + e2etest.FreeAddr(t), shutdownGrace: grace}.write(t, dir)
	p := e2etest.StartFibergate(t, dir, e2etest.Env(), "serve", "--config", cfg, "--demo-upstream")
	addr, _ := p.WaitReady(t)
	return p, addr
}

func TestGracefulShutdownDuringStream(t *testing.T) {
	t.Parallel()
	p, addr := serveDemo(t, "10s")

	ctx, cancel := context.WithTimeout(context.Background(), 2*e2etest.StartTimeout)
	defer cancel()
	c := e2etest.Alice.Handshaken(t, addr)

	const n = 5
	var (
		mu          sync.Mutex
		lines       []string
		sawShutdown bool // the last line arrived after fibergate logged its shutdown
	)
	type outcome struct {
		status int
		err    error
	}
	done := make(chan outcome, 1)
	go func() {
		status, err := c.Stream(ctx, "/stream/x", []byte(`{"lines":5,"delay_ms":300}`), func(line []byte) error {
			mu.Lock()
			defer mu.Unlock()
			lines = append(lines, string(line))
			switch len(lines) {
			case 1:
				// The signal goes from here, so the remaining lines are
				// still to come (300 ms apart) when fibergate gets it.
				if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
					return fmt.Errorf("signalling fibergate: %w", err)
				}
			case n:
				sawShutdown = strings.Contains(p.Stderr.String(), `msg="shutting down"`)
			}
			return nil
		})
		done <- outcome{status, err}
	}()

	var out outcome
	select {
	case out = <-done:
	case <-time.After(2 * e2etest.StartTimeout):
		t.Fatal("the stream did not end")
	}
	mu.Lock()
	defer mu.Unlock()
	if out.err != nil || out.status != http.StatusOK {
		t.Fatalf("stream: got status %d, err %v after %d lines; want 200 and no error", out.status, out.err, len(lines))
	}
	if len(lines) != n {
		t.Fatalf("stream: got %d lines, want %d: %q", len(lines), n, lines)
	}
	for i, l := range lines {
		checkStreamLine(t, l, i, n)
	}
	if !sawShutdown {
		t.Error("fibergate had not begun shutting down when the last line arrived; the test proves nothing")
	}
	if code := p.WaitExit(t, e2etest.ExitTimeout); code != 0 {
		t.Errorf("exit after SIGTERM: got %d, want 0", code)
	}
	if strings.Contains(p.Stderr.String(), "grace ran out") {
		t.Error("shutdown grace ran out with only a short stream in flight")
	}
}

func TestUpstreamDown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dead := e2etest.FreeAddr(t) // bound and closed: nothing listens there
	cfg := testConfig{upstreamURL: "http://" + dead}.write(t, dir)
	p := e2etest.StartFibergate(t, dir, e2etest.Env(), "serve", "--config", cfg)
	addr, admin := p.WaitUp(t)

	ctx, cancel := context.WithTimeout(context.Background(), e2etest.IOTimeout)
	defer cancel()
	c := e2etest.Alice.Handshaken(t, addr)
	for i := range 2 {
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		start := time.Now()
		resp, err := c.Post(pctx, "/echo", []byte(`{"prompt":"anyone there?"}`))
		elapsed := time.Since(start)
		pcancel()
		var e *client.Error
		if !errors.As(err, &e) || e.Status != http.StatusBadGateway || e.Code != "upstream_unavailable" {
			t.Fatalf("post %d: got %v (response %v), want 502 upstream_unavailable", i, err, resp)
		}
		if elapsed > 2*time.Second {
			t.Errorf("post %d: the 502 took %v, want under 2s", i, elapsed)
		}
	}
	if status, body := e2etest.Get("http://" + admin + "/readyz"); status != http.StatusServiceUnavailable || !strings.Contains(body, "upstream") {
		t.Errorf("/readyz with the app down: got %d %q, want 503 naming the upstream", status, body)
	}
	if status, body := e2etest.Get("http://" + admin + "/healthz"); status != http.StatusOK {
		t.Errorf("/healthz after the 502s: got %d %q, want 200", status, body)
	}
	if p.Exited() {
		t.Errorf("fibergate exited (code %d) after the upstream failed", p.Cmd.ProcessState.ExitCode())
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		stdout   []string // each must appear on stdout
		stderr   []string // each must appear on stderr
	}{
		{"--help", []string{"--help"}, 0,
			[]string{"Usage: fibergate", "serve", "check-config", "keygen", "client", "version"}, nil},
		{"help", []string{"help"}, 0, []string{"Usage: fibergate", "check-config"}, nil},
		{"serve --help", []string{"serve", "--help"}, 0, nil, []string{"Usage: fibergate serve", "-config", "-demo-upstream"}},
		{"check-config --help", []string{"check-config", "--help"}, 0, nil, []string{"Usage: fibergate check-config", "-config"}},
		{"keygen --help", []string{"keygen", "--help"}, 0, nil, []string{"Usage: fibergate keygen", "-out", "-bits"}},
		{"client --help", []string{"client", "--help"}, 0, nil, []string{"handshake", "post", "stream", "signed", "--seed"}},
		{"client post --help", []string{"client", "post", "--help"}, 0, nil, []string{"-url", "-miner", "-seed", "-path", "-data"}},
		{"version", []string{"version"}, 0, []string{"fibergate ", "revision", "go1."}, nil},
		{"unknown command", []string{"frobnicate"}, 2, nil, []string{`unknown command "frobnicate"`, "Usage: fibergate"}},
		{"unknown flag", []string{"serve", "--no-such-flag"}, 2, nil, []string{"no-such-flag"}},
		{"client without action", []string{"client"}, 2, nil, []string{"Usage: fibergate client"}},
		{"client unknown action", []string{"client", "dance"}, 2, nil, []string{`unknown action "dance"`}},
		{"keygen without --out", []string{"keygen"}, 2, nil, []string{"--out is required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runFibergate(t, dir, e2etest.Env(), tc.args...)
			if r.code != tc.wantCode {
				t.Errorf("fibergate %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), r.code, tc.wantCode, r.stdout, r.stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("fibergate %s: stdout lacks %q:\n%s", strings.Join(tc.args, " "), s, r.stdout)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("fibergate %s: stderr lacks %q:\n%s", strings.Join(tc.args, " "), s, r.stderr)
				}
			}
		})
	}
}

// TestSecondSignalCutsGraceShort: a second SIGTERM during the grace period
// closes connections at once instead of waiting out shutdown_grace.
func TestSecondSignalCutsGraceShort(t *testing.T) {
	t.Parallel()
	p, addr := serveDemo(t, "60s")
	ctx, cancel := context.WithTimeout(context.Background(), 2*e2etest.StartTimeout)
	defer cancel()
	c := e2etest.Alice.Handshaken(t, addr)
	first := make(chan struct{})
	go c.Stream(ctx, "/stream/x", []byte(`{"lines":100,"delay_ms":500}`), func([]byte) error {
		select {
		case <-first:
		default:
			close(first)
		}
		return nil
	})
	select {
	case <-first:
	case <-time.After(e2etest.StartTimeout):
		t.Fatal("no stream line arrived")
	}
	p.Signal(t, syscall.SIGTERM)
	for deadline := time.Now().Add(e2etest.StartTimeout); !strings.Contains(p.Stderr.String(), `msg="shutting down"`); {
		if time.Now().After(deadline) {
			t.Fatal("fibergate did not begin shutting down after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	p.Signal(t, syscall.SIGTERM)
	if code := p.WaitExit(t, e2etest.ExitTimeout); code != 0 {
		t.Errorf("exit after two signals: got %d, want 0", code)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("exit took %v after the second signal; the 60 s grace was not cut short", took)
	}
	if !strings.Contains(p.Stderr.String(), "second signal") {
		t.Error("the log does not say the second signal cut the grace short")
	}
}

// TestSnapshotDirectoryGone: the snapshot's directory disappears while
// fibergate runs. Saving fails, is logged and counted, serving goes on, and
// once the directory is back the next save succeeds.
func TestSnapshotDirectoryGone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	snapDir := filepath.Join(dir, "state")
	if err := os.Mkdir(snapDir, 0o700); err != nil {
		t.Fatal(err)
	}
	app := e2etest.DemoApp(t)
	cfg := testConfig{upstreamURL: app, persistFile: filepath.Join(snapDir, "keys.snapshot"), persistEvery: "200ms"}.write(t, dir)
	p := e2etest.StartFibergate(t, dir, e2etest.Env("FIBERGATE_STORAGE_KEY="+keystore.GenerateStorageKey()), "serve", "--config", cfg)
	addr, admin := p.WaitReady(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*e2etest.StartTimeout)
	defer cancel()
	c := e2etest.Alice.Client(t, addr)

	if err := os.RemoveAll(snapDir); err != nil {
		t.Fatal(err)
	}
	if err := c.Handshake(ctx); err != nil { // a change to save
		t.Fatalf("handshake: %v", err)
	}
	waitMetric := func(series string) {
		t.Helper()
		for deadline := time.Now().Add(e2etest.StartTimeout); ; {
			_, body := e2etest.Get("http://" + admin + "/metrics")
			if metricValue(t, body, series) >= 1 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never reached 1", series)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitMetric(`fibergate_keystore_snapshot_saves_total{result="error"}`)
	if !strings.Contains(p.Stderr.String(), "saving the key snapshot") {
		t.Error("the failed save was not logged")
	}
	if _, err := c.Post(ctx, "/echo", []byte(`{"still":"serving"}`)); err != nil {
		t.Fatalf("serving stopped while the snapshot failed: %v", err)
	}
	if err := os.Mkdir(snapDir, 0o700); err != nil {
		t.Fatal(err)
	}
	waitMetric(`fibergate_keystore_snapshot_saves_total{result="ok"}`)
	if _, err := os.Stat(filepath.Join(snapDir, "keys.snapshot")); err != nil {
		t.Errorf("no snapshot after the directory came back: %v", err)
	}
}
