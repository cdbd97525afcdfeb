package e2etest

import (
	"bufio"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/demoapp"
)

// envPrefix starts every variable fibergate reads from its environment
// (config.EnvPrefix, which this package does not import so that config's
// own tests may use it).
const envPrefix = "FIBERGATE_"

// Env is this process's environment without any FIBERGATE_ variable, so an
// operator's shell cannot change what a test sees, plus extra ("KEY=value").
func Env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// FreeAddr returns a loopback address whose port was free a moment ago,
// with nothing listening there after: a dead upstream, or a port to hand
// a process.
//
// The port is drawn at random below the kernel's ephemeral range (from
// 20000 up), where neither a listener on port 0 (every test app, every
// fibergate on 127.0.0.1:0) nor an outgoing connection takes ports, so it
// stays free until the process it is handed to binds it. Where that range
// is too small, it falls back to a port the kernel picks.
func FreeAddr(t testing.TB) string {
	t.Helper()
	if lo, hi := quietPorts(); hi-lo >= 1000 {
		for range 50 {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(lo+rand.IntN(hi-lo)))
			if err == nil {
				addr := ln.Addr().String()
				ln.Close()
				return addr
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// quietPorts is the range FreeAddr draws from: from 20000 (above the
// ports services usually take, and the quick start's) to the start of the
// ephemeral range (Linux's ip_local_port_range, 32768 by default).
func quietPorts() (lo, hi int) {
	lo, hi = 20000, 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				hi = n
			}
		}
	}
	return lo, hi
}

// Get fetches url (up to 16 MiB of it) and returns the status and body; a
// transport error is status 0 with the error as the body.
func Get(url string) (int, string) {
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

// Scrape returns the exposition of /metrics on the admin address admin.
func Scrape(t testing.TB, admin string) string {
	t.Helper()
	status, body := Get("http://" + admin + "/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET %s/metrics: got %d %q, want 200", admin, status, body)
	}
	return body
}

// Metric returns the value of series (the name and labels as exposed, e.g.
// `fibergate_handshakes_total{result="ok"}`) in a Prometheus text
// exposition, and whether the series is there.
func Metric(t testing.TB, exposition, series string) (float64, bool) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(exposition))
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
		return v, true
	}
	return 0, false
}

// WaitFor polls cond every PollEvery until it holds, failing t after
// timeout with what was awaited.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(PollEvery)
	}
}

// DemoApp runs the demo app (package demoapp: an echo that names the
// validator fibergate verified, NDJSON streams under /stream/,
// /healthcheck) on a free loopback port until t ends, and returns its base
// URL, for a fibergate to front.
func DemoApp(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: demoapp.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}
