//go:build unix

package conformance_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fibergate/fibergate/internal/e2etest"
)

// aliceStake is the stake the suite lists //Alice and //Dave with (the
// dev identities are e2etest's: //Alice and //Dave validate, //Bob mines).
const aliceStake = "5000"

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

// fgOptions is what differs between the fibergates of the suite.
type fgOptions struct {
	trustedProxies []string // top-level trusted_proxies; empty leaves the key out
}

// fibergate is a running fibergate: addr for validators, admin for
// /metrics.
type fibergate struct {
	addr, admin string
	proc        *e2etest.Process
}

// startFibergate writes a config for the app at upstream and runs
// fibergate on it until /readyz answers 200.
func startFibergate(t *testing.T, upstream string, o fgOptions) *fibergate {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "listen: \"127.0.0.1:0\"\nadmin_listen: %q\n", e2etest.FreeAddr(t))
	fmt.Fprintf(&b, "upstream:\n  url: \"http://%s\"\n  timeout: 10s\n", upstream)
	fmt.Fprintf(&b, "miner:\n  hotkey: %q\n", e2etest.Bob.SS58)
	fmt.Fprintf(&b, "validators:\n  min_stake: 1000\n  static:\n    - {hotkey: %q, stake: %s}\n    - {hotkey: %q, stake: %s}\n",
		e2etest.Alice.SS58, aliceStake, e2etest.Dave.SS58, aliceStake)
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
	p := e2etest.StartFibergate(t, dir, e2etest.Env(), "serve", "--config", cfg)
	addr, admin := p.WaitReady(t)
	return &fibergate{addr: addr, admin: admin, proc: p}
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// metric returns the value of series (name and labels as exposed) on
// fibergate's /metrics, 0 when it is not exposed.
func (fg *fibergate) metric(t *testing.T, series string) float64 {
	t.Helper()
	v, _ := e2etest.Metric(t, e2etest.Scrape(t, fg.admin), series)
	return v
}

// streamsMetric is the series of streamed answers that ended as result.
func streamsMetric(result string) string {
	return `fibergate_upstream_streams_total{result="` + result + `"}`
}
