//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/config"
	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/wallet"
)

// The dev keys the bundled config.yaml uses: //Alice validates, //Bob mines.
const (
	aliceSS58    = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
	aliceSeedHex = "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a"
	bobSS58      = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
)

// Bounds for waiting on the subprocess. They are generous because the
// suite runs under -race on small, busy machines; each is still a bound.
const (
	startTimeout = 30 * time.Second // from exec to /readyz answering 200
	exitTimeout  = 30 * time.Second // from SIGTERM to exit
	cmdTimeout   = 30 * time.Second // one short command (client, keygen, ...)
	pollEvery    = 25 * time.Millisecond
)

// fibergateBin is the binary TestMain builds once for every test.
var fibergateBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "fibergate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "making a temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "fibergate")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	// The same build as the Dockerfile's and `make build-static`.
	build := exec.Command(goTool, "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building fibergate: %v\n%s", err, out)
		return 1
	}
	fibergateBin = bin
	return m.Run()
}

// repoRoot is the module root, where config.yaml lives.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// testEnv is this process's environment without any FIBERGATE_ variable,
// so an operator's shell cannot change what a test sees, plus extra.
func testEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, config.EnvPrefix) {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is a running fibergate, killed in t.Cleanup if still running.
type process struct {
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{} // closed once the process has exited
}

// startFibergate starts the binary with args in dir with env.
func startFibergate(t *testing.T, dir string, env []string, args ...string) *process {
	t.Helper()
	return startWrapped(t, dir, env, nil, args...)
}

// startWrapped starts the binary as startFibergate does, through the
// command wrap (e.g. a shell that lowers a limit and execs it) when set:
// wrap is run with the binary and args appended.
func startWrapped(t *testing.T, dir string, env []string, wrap []string, args ...string) *process {
	t.Helper()
	p := &process{done: make(chan struct{})}
	if len(wrap) > 0 {
		p.cmd = exec.Command(wrap[0], append(append(wrap[1:], fibergateBin), args...)...)
	} else {
		p.cmd = exec.Command(fibergateBin, args...)
	}
	p.cmd.Dir = dir
	p.cmd.Env = env
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting fibergate %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("fibergate %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), p.stdout.String(), p.stderr.String())
		}
	})
	return p
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process.
func (p *process) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling fibergate: %v", err)
	}
}

// waitExit waits up to timeout for the process to end and returns its
// exit code.
func (p *process) waitExit(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("fibergate still running %v later", timeout)
		return -1
	}
}

var (
	listenLine = regexp.MustCompile(`msg="fibergate listening" addr=(\S+)`)
	adminLine  = regexp.MustCompile(`msg="admin listening" addr=(\S+)`)
)

// waitReady waits for the "fibergate listening" log line and then for
// /readyz to answer 200, and returns the proxy and admin addresses read
// from the log (so listen: 127.0.0.1:0 works).
func (p *process) waitReady(t *testing.T) (addr, admin string) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		if p.exited() {
			t.Fatalf("fibergate exited with code %d before it was ready", p.cmd.ProcessState.ExitCode())
		}
		log := p.stderr.String()
		if m := listenLine.FindStringSubmatch(log); m != nil {
			addr = m[1]
			if a := adminLine.FindStringSubmatch(log); a != nil {
				admin = a[1]
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no \"fibergate listening\" log line within %v", startTimeout)
		}
		time.Sleep(pollEvery)
	}
	if admin == "" {
		t.Fatal("no \"admin listening\" log line before \"fibergate listening\"")
	}
	for {
		status, body := httpGet(t, "http://"+admin+"/readyz")
		if status == http.StatusOK {
			return addr, admin
		}
		if p.exited() {
			t.Fatalf("fibergate exited with code %d before /readyz answered 200", p.cmd.ProcessState.ExitCode())
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: got %d %q, want 200 within %v", status, body, startTimeout)
		}
		time.Sleep(pollEvery)
	}
}

// waitUp is waitReady for a fibergate whose app is down on purpose: it
// waits for /healthz instead of /readyz, which needs the app.
func (p *process) waitUp(t *testing.T) (addr, admin string) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		if m := listenLine.FindStringSubmatch(p.stderr.String()); m != nil {
			if a := adminLine.FindStringSubmatch(p.stderr.String()); a != nil {
				addr, admin = m[1], a[1]
				break
			}
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("fibergate did not start listening within %v", startTimeout)
		}
		time.Sleep(pollEvery)
	}
	for {
		if status, _ := httpGet(t, "http://"+admin+"/healthz"); status == http.StatusOK {
			return addr, admin
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("/healthz did not answer 200 within %v", startTimeout)
		}
		time.Sleep(pollEvery)
	}
}

// waitOutput waits up to timeout for the process's stdout to contain s.
func (p *process) waitOutput(t *testing.T, s string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := p.stdout.String()
		if strings.Contains(out, s) {
			return out
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("stdout never contained %q; got:\n%s", s, out)
		}
		time.Sleep(pollEvery)
	}
}

// result is how a short command ended.
type result struct {
	code           int
	stdout, stderr string
}

// runFibergate runs the binary to completion, within cmdTimeout.
func runFibergate(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, fibergateBin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("fibergate %s: still running after %v", strings.Join(args, " "), cmdTimeout)
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("running fibergate %s: %v", strings.Join(args, " "), err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// httpGet fetches url and returns the status and body; a transport error
// is status 0.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(body)
}

// metricValue finds the sample named series (name and labels as exposed)
// in a Prometheus text exposition.
func metricValue(t *testing.T, exposition, series string) float64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(exposition))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), series+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			t.Fatalf("metric %s: value %q: %v", series, rest, err)
		}
		return v
	}
	t.Fatalf("metric %s not exposed", series)
	return 0
}

// freeAddr returns a loopback address whose port was free a moment ago: it
// binds 127.0.0.1:0 and closes the listener. Nothing listens there after.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// testConfig is what a test sets in the config it writes; the rest is
// fixed: listen on 127.0.0.1:0, admin_listen on a free loopback port,
// //Bob as the miner.
type testConfig struct {
	upstreamURL   string // required
	nodesFile     string // validators.nodes_file; empty lists //Alice statically
	nodesPoll     string // validators.nodes_file_poll
	rsaKeyFile    string
	persistFile   string
	persistEvery  string // keystore.persist_interval
	listen        string // default 127.0.0.1:0
	shutdownGrace string // default 10s
	minStake      string // validators.min_stake; default 1000
	signedRoute   bool   // add a route /signed/* in mode signed
	extra         string // more top-level YAML, appended as it is
}

// write writes c as dir/config.yaml and returns its path.
func (c testConfig) write(t *testing.T, dir string) string {
	t.Helper()
	listen := c.listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	grace := c.shutdownGrace
	if grace == "" {
		grace = "10s"
	}
	var b strings.Builder
	// admin_listen cannot be 127.0.0.1:0 as well: config refuses an
	// admin_listen equal to listen, even when both ask for any free port.
	fmt.Fprintf(&b, "listen: %q\nadmin_listen: %q\n", listen, freeAddr(t))
	fmt.Fprintf(&b, "upstream:\n  url: %q\n  timeout: 20s\n", c.upstreamURL)
	fmt.Fprintf(&b, "miner:\n  hotkey: %q\n", bobSS58)
	fmt.Fprintf(&b, "handshake:\n  rsa_key_file: %q\n", c.rsaKeyFile)
	minStake := c.minStake
	if minStake == "" {
		minStake = "1000"
	}
	fmt.Fprintf(&b, "validators:\n  min_stake: %s\n", minStake)
	if c.nodesFile == "" {
		fmt.Fprintf(&b, "  static:\n    - {hotkey: %q, stake: 5000}\n", aliceSS58)
	} else {
		fmt.Fprintf(&b, "  nodes_file: %q\n", c.nodesFile)
		if c.nodesPoll != "" {
			fmt.Fprintf(&b, "  nodes_file_poll: %s\n", c.nodesPoll)
		}
	}
	fmt.Fprintf(&b, "keystore:\n  persist_file: %q\n", c.persistFile)
	if c.persistEvery != "" {
		fmt.Fprintf(&b, "  persist_interval: %s\n", c.persistEvery)
	}
	b.WriteString("routes:\n  - {path: \"/stream/*\", mode: encrypted, response: encrypted}\n")
	if c.signedRoute {
		b.WriteString("  - {path: \"/signed/*\", mode: signed}\n")
	}
	fmt.Fprintf(&b, "shutdown_grace: %s\n", grace)
	b.WriteString(c.extra)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// aliceClient returns an in-process validator client for //Alice talking to
// addr. Keep-alives are off so a client can outlive a server process.
func aliceClient(t *testing.T, addr string) *client.Client {
	t.Helper()
	seed, err := wallet.ParseSeedHex(aliceSeedHex)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := sr25519.KeypairFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Options{
		BaseURL:     "http://" + addr,
		Keypair:     kp,
		MinerHotkey: bobSS58,
		HTTP: &http.Client{
			Timeout:   cmdTimeout,
			Transport: &http.Transport{DisableKeepAlives: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// clientArgs are the flags `fibergate client` needs to talk to addr as
// //Alice.
func clientArgs(action, addr string, more ...string) []string {
	return append([]string{"client", action, "--url", "http://" + addr, "--miner", bobSS58, "--seed", aliceSeedHex}, more...)
}

// shellWords splits a command line of plain words and single-quoted
// strings, the only shell syntax the quick-start hint uses. Anything else
// is an error rather than a silent misreading.
func shellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\'':
			quoted = false
		case quoted:
			cur.WriteByte(c)
		case c == '\'':
			quoted, inWord = true, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case strings.IndexByte("\"\\$`|&;<>(){}*?!~#", c) >= 0:
			return nil, fmt.Errorf("shell syntax %q at %d not understood", c, i)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
