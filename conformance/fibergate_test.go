//go:build unix

package conformance_test

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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/wallet"
)

// The dev keys: //Alice validates, //Bob mines.
const (
	aliceSS58    = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
	aliceSeedHex = "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a"
	bobSS58      = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
	// A second validator, for what one validator must never see of
	// another's requests.
	daveSS58    = "5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy"
	daveSeedHex = "0x868020ae0687dda7d57565093a69090211449845a7e11453612800b663307246"
	aliceStake  = "5000"
)

// Bounds on every wait, generous for -race on a small busy machine; each
// is still a bound.
const (
	startTimeout = 30 * time.Second // a process from exec to serving
	ioTimeout    = 30 * time.Second // one exchange with fibergate or an app
	pollEvery    = 25 * time.Millisecond
)

// routesYAML is the route table every fibergate of the suite runs with.
// /v1/generate is listed before /v1/* so that an encoded spelling of it
// (/v1/%67enerate) shows whether routes see the decoded path.
const routesYAML = `routes:
  - {path: "/internal/*", mode: deny}
  - {path: "/v1/generate", mode: encrypted}
  - {path: "/v1/*", mode: public}
  - {path: "/enc/*", mode: encrypted, response: encrypted}
  - {path: "/signed/*", mode: signed, response: plain}
default:
  mode: public
  response: plain
`

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

// process is a started program, killed in t.Cleanup if still running; its
// output is logged when the test failed.
type process struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{} // closed once the process has exited
}

func startProcess(t *testing.T, name string, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.stdout, &p.stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output\nstdout:\n%s\nstderr:\n%s", name, tail(p.stdout.String()), tail(p.stderr.String()))
		}
	})
	return p
}

// tail keeps the end of a long log.
func tail(s string) string {
	const max = 8 << 10
	if len(s) > max {
		return "..." + s[len(s)-max:]
	}
	return s
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// testEnv is this process's environment without FIBERGATE_ variables, so
// an operator's shell cannot change what a test sees, plus extra.
func testEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FIBERGATE_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// freeAddr returns a loopback address whose port was free a moment ago.
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

// waitListening waits until addr accepts TCP connections, or p exits.
func waitListening(t *testing.T, p *process, addr string) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if p != nil && p.exited() {
			t.Fatalf("%s exited (%v) before listening on %s", p.name, p.cmd.ProcessState, addr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listening on %s within %v", addr, startTimeout)
		}
		time.Sleep(pollEvery)
	}
}

// fgOptions is what differs between the fibergates of the suite.
type fgOptions struct {
	trustedProxies []string // top-level trusted_proxies; empty leaves the key out
}

// fibergate is a running fibergate: addr for validators, admin for
// /metrics.
type fibergate struct {
	addr, admin string
	proc        *process
}

var (
	listenLine = regexp.MustCompile(`msg="fibergate listening" addr=(\S+)`)
	adminLine  = regexp.MustCompile(`msg="admin listening" addr=(\S+)`)
)

// startFibergate writes a config for the app at upstream and runs
// fibergate on it until /readyz answers 200.
func startFibergate(t *testing.T, upstream string, o fgOptions) *fibergate {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "listen: \"127.0.0.1:0\"\nadmin_listen: %q\n", freeAddr(t))
	fmt.Fprintf(&b, "upstream:\n  url: \"http://%s\"\n  timeout: 10s\n", upstream)
	fmt.Fprintf(&b, "miner:\n  hotkey: %q\n", bobSS58)
	fmt.Fprintf(&b, "validators:\n  min_stake: 1000\n  static:\n    - {hotkey: %q, stake: %s}\n    - {hotkey: %q, stake: %s}\n",
		aliceSS58, aliceStake, daveSS58, aliceStake)
	// The suite sends a few hundred requests a second from one address
	// and one validator: no rate limit is under test here.
	b.WriteString("rate_limits:\n  per_ip: {per_second: 0, burst: 0}\n  per_validator: {per_second: 0, burst: 0}\n  handshakes_per_validator: {per_second: 0, burst: 0}\n")
	b.WriteString(routesYAML)
	if len(o.trustedProxies) > 0 {
		fmt.Fprintf(&b, "trusted_proxies: [%s]\n", quoteAll(o.trustedProxies))
	}
	b.WriteString("shutdown_grace: 1s\nlog:\n  level: debug\n")
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fibergateBin, "serve", "--config", cfg)
	cmd.Dir = dir
	cmd.Env = testEnv()
	p := startProcess(t, "fibergate", cmd)
	fg := &fibergate{proc: p}
	deadline := time.Now().Add(startTimeout)
	for {
		log := p.stderr.String()
		if m := listenLine.FindStringSubmatch(log); m != nil {
			if a := adminLine.FindStringSubmatch(log); a != nil {
				fg.addr, fg.admin = m[1], a[1]
				break
			}
		}
		if p.exited() {
			t.Fatalf("fibergate exited (%v) before listening; config:\n%s\nstderr:\n%s", p.cmd.ProcessState, b.String(), p.stderr.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("fibergate not listening within %v", startTimeout)
		}
		time.Sleep(pollEvery)
	}
	for {
		status, _ := httpGet("http://" + fg.admin + "/readyz")
		if status == http.StatusOK {
			return fg
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("/readyz: got %d, want 200 within %v", status, startTimeout)
		}
		time.Sleep(pollEvery)
	}
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// httpGet fetches url; a transport error is status 0.
func httpGet(url string) (int, []byte) {
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, []byte(err.Error())
	}
	return resp.StatusCode, body
}

// metric returns the value of series (name and labels as exposed) on
// fibergate's /metrics, 0 when it is not exposed.
func (fg *fibergate) metric(t *testing.T, series string) float64 {
	t.Helper()
	status, body := httpGet("http://" + fg.admin + "/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: got %d %q", status, body)
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
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
	return 0
}

// streamsMetric is the series of streamed answers that ended as result.
func streamsMetric(result string) string {
	return `fibergate_upstream_streams_total{result="` + result + `"}`
}

// aliceClient returns a validator client for //Alice talking to addr,
// after a handshake.
func aliceClient(t *testing.T, addr string) *client.Client {
	t.Helper()
	return validatorClient(t, addr, aliceSeedHex)
}

// validatorClient returns a validator client for the seed talking to
// addr, after a handshake.
func validatorClient(t *testing.T, addr, seedHex string) *client.Client {
	t.Helper()
	seed, err := wallet.ParseSeedHex(seedHex)
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
			Timeout:   ioTimeout,
			Transport: &http.Transport{DisableKeepAlives: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := c.Handshake(ctx); err != nil {
		t.Fatalf("handshake with fibergate: %v", err)
	}
	return c
}
