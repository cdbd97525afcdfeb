//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/internal/e2etest"
	"github.com/fibergate/fibergate/proxy"
)

// Bounds for the Prometheus server: start-up, and the wait for a scrape to
// show what happened (scrapes are every second).
const (
	promStartTimeout = 60 * time.Second
	promQueryTimeout = 60 * time.Second
)

// TestPrometheusCountsHandshakes runs the built binary, has a real
// Prometheus server scrape its admin port, performs known numbers of good
// and refused handshakes, and reads the counts back through Prometheus'
// query API: what an operator's dashboard and alerts would see.
func TestPrometheusCountsHandshakes(t *testing.T) {
	t.Parallel()
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("the prometheus binary is not on PATH (Debian package prometheus; .ci/run installs it), so this test cannot run here")
	}
	dir := t.TempDir()
	cfg := testConfig{upstreamURL: e2etest.DemoApp(t)}.write(t, dir)
	p := e2etest.StartFibergate(t, dir, e2etest.Env(), "serve", "--config", cfg)
	addr, admin := p.WaitReady(t)
	prom := startPrometheus(t, promBin, admin)

	// Before any traffic Prometheus already sees every handshake result,
	// each at 0: the first refusal of a kind then shows in rate().
	prom.waitValue(t, `up{job="fibergate"}`, 1)
	prom.waitValue(t, `count(fibergate_handshakes_total)`, float64(len(proxy.Codes())+1))
	prom.waitValue(t, `sum(fibergate_handshakes_total)`, 0)

	const good, unknown, badSig = 4, 3, 2
	ctx := context.Background()
	alice := e2etest.Alice.Client(t, addr)
	for i := range good {
		if err := alice.Handshake(ctx); err != nil {
			t.Fatalf("good handshake %d: %v", i, err)
		}
	}
	resp, err := alice.Post(ctx, "/echo", []byte(`{"prompt":"scraped"}`))
	if err != nil {
		t.Fatalf("POST /echo: %v", err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("POST /echo: got %d, want 200", resp.Status)
	}
	stranger := strangerClient(t, addr)
	for i := range unknown {
		var ce *client.Error
		if err := stranger.Handshake(ctx); !errors.As(err, &ce) || ce.Code != "unknown_validator" {
			t.Fatalf("stranger's handshake %d: got %v, want a 403 unknown_validator", i, err)
		}
	}
	for i := range badSig {
		if code := forgedHandshake(t, alice, addr); code != "signature_invalid" {
			t.Fatalf("forged handshake %d: got error code %q, want signature_invalid", i, code)
		}
	}

	prom.waitValue(t, `fibergate_handshakes_total{result="ok"}`, good)
	prom.waitValue(t, `fibergate_handshakes_total{result="unknown_validator"}`, unknown)
	prom.waitValue(t, `fibergate_handshakes_total{result="signature_invalid"}`, badSig)
	// Nothing else was counted, and every handshake was timed.
	prom.waitValue(t, `sum(fibergate_handshakes_total{result!="ok"})`, unknown+badSig)
	prom.waitValue(t, `fibergate_handshake_duration_seconds_count`, good+unknown+badSig)
	prom.waitValue(t, `fibergate_requests_total{route="default",result="ok"}`, 1)
	// Each handshake fetched the public key first (the forged ones did not).
	prom.waitValue(t, `fibergate_requests_total{route="public_key",result="ok"}`, good+unknown)

	p.Signal(t, syscall.SIGTERM)
	if code := p.WaitExit(t, e2etest.ExitTimeout); code != 0 {
		t.Errorf("exit after SIGTERM: got %d, want 0", code)
	}
}

// strangerClient returns a validator client for a hotkey the config does
// not list.
func strangerClient(t *testing.T, addr string) *client.Client {
	t.Helper()
	var seed [32]byte
	for i := range seed {
		seed[i] = 0x42
	}
	return e2etest.Seeded(seed).Client(t, addr)
}

// forgedHandshake sends a key exchange with c's headers whose signature
// has one digit changed, and returns the error code of the answer.
func forgedHandshake(t *testing.T, c *client.Client, addr string) string {
	t.Helper()
	const uuid = "forged-0001"
	h, err := c.Headers(uuid)
	if err != nil {
		t.Fatal(err)
	}
	sig := []byte(h["signature"][0])
	// A digit of R, not of s: the signature stays well formed and fails
	// verification.
	if sig[10] == '0' {
		sig[10] = '1'
	} else {
		sig[10] = '0'
	}
	h["signature"] = []string{string(sig)}
	h["symmetric-key-uuid"] = []string{uuid}
	h["content-type"] = []string{"application/json"}
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/exchange-symmetric-key",
		bytes.NewReader([]byte(`{"encrypted_symmetric_key": "AAAA"}`)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	hc := &http.Client{Timeout: e2etest.IOTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("forged handshake: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("forged handshake: status %d, body not JSON: %v", resp.StatusCode, err)
	}
	return body.Error
}

// promServer is a Prometheus server run for one test.
type promServer struct {
	url string // http://127.0.0.1:port
}

// startPrometheus runs bin on a free loopback port with its storage in a
// temp dir, scraping target's /metrics every second, and waits until it is
// ready. It is stopped in t.Cleanup.
func startPrometheus(t *testing.T, bin, target string) *promServer {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: fibergate
    static_configs:
      - targets: [%q]
`, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := e2etest.FreeAddr(t)
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen,
		"--log.level=warn",
	)
	cmd.Dir = dir
	p := e2etest.Start(t, "prometheus", cmd)
	t.Cleanup(func() { p.Stop(syscall.SIGTERM, e2etest.ExitTimeout) })
	s := &promServer{url: "http://" + listen}
	p.WaitHTTP(t, s.url+"/-/ready", promStartTimeout)
	return s
}

// query runs an instant query and returns the value of its one sample;
// ok is false when the answer is not exactly one sample.
func (s *promServer) query(t *testing.T, q string) (v float64, answer string, ok bool) {
	t.Helper()
	status, body := e2etest.Get(s.url + "/api/v1/query?query=" + url.QueryEscape(q))
	if status != http.StatusOK {
		return 0, fmt.Sprintf("status %d: %s", status, body), false
	}
	var r struct {
		Status string
		Data   struct {
			ResultType string
			Result     []struct {
				Value [2]any
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("query %s: answer is not JSON: %v\n%s", q, err, body)
	}
	if r.Status != "success" || r.Data.ResultType != "vector" || len(r.Data.Result) != 1 {
		return 0, body, false
	}
	str, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(str, 64)
	if err != nil {
		t.Fatalf("query %s: value %q: %v", q, str, err)
	}
	return v, strings.TrimSpace(body), true
}

// waitValue waits, within promQueryTimeout, until the query q answers one
// sample equal to want.
func (s *promServer) waitValue(t *testing.T, q string, want float64) {
	t.Helper()
	deadline := time.Now().Add(promQueryTimeout)
	for {
		v, answer, ok := s.query(t, q)
		if ok && v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus query %s: want %v within %v; last answer: %s", q, want, promQueryTimeout, answer)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
