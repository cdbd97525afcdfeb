package proxy_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/proxy"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// series returns the samples of the counter name in reg, keyed by their
// label values joined with "|" in label-name order (result before route).
func series(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[labelKey(m)] = m.GetCounter().GetValue()
		}
	}
	return out
}

func labelKey(m *dto.Metric) string {
	k := ""
	for i, l := range m.GetLabel() {
		if i > 0 {
			k += "|"
		}
		k += l.GetValue()
	}
	return k
}

// InitMetrics exposes every handshake result and every (route, result) at
// 0; traffic of every kind the handler labels then only moves those series
// and never adds one, which shows the route labels and codes are complete.
func TestInitMetrics(t *testing.T) {
	up := startUpstream(t)
	g := startGate(t, gateOptions{
		upstream: up.URL,
		routes:   []proxy.Route{{Path: "/open", Mode: proxy.ModePublic}, {Path: "/stream/*", Mode: proxy.ModeEncrypted}},
	})
	if got, want := g.Handler.RouteLabels(), []string{"/open", "/stream/*", "default", "public_key", "invalid_http"}; !slices.Equal(got, want) {
		t.Fatalf("RouteLabels: got %q, want %q", got, want)
	}
	g.Handler.InitMetrics()

	results := len(proxy.Codes()) + 1
	hs := series(t, g.Reg, "fibergate_handshakes_total")
	rq := series(t, g.Reg, "fibergate_requests_total")
	if len(hs) != results {
		t.Errorf("handshake series after InitMetrics: got %d, want %d (ok and every code)", len(hs), results)
	}
	if want := results * len(g.Handler.RouteLabels()); len(rq) != want {
		t.Errorf("request series after InitMetrics: got %d, want %d", len(rq), want)
	}
	st := series(t, g.Reg, "fibergate_upstream_streams_total")
	if len(st) != len(proxy.StreamResults()) {
		t.Errorf("stream series after InitMetrics: got %d, want one for each of %q", len(st), proxy.StreamResults())
	}
	for k, v := range hs {
		if v != 0 {
			t.Errorf("handshakes{%s}: got %v before any traffic, want 0", k, v)
		}
	}

	// One of each kind: a good and a refused handshake, the public key, a
	// request on a configured route, on the default route, and malformed
	// HTTP.
	ctx := context.Background()
	c := newClient(t, g, aliceSeed)
	if err := c.Handshake(ctx); err != nil {
		t.Fatal(err)
	}
	stranger := newClient(t, g, mustSeed("0x0202020202020202020202020202020202020202020202020202020202020202"))
	var ce *client.Error
	if err := stranger.Handshake(ctx); !errors.As(err, &ce) || ce.Code != "unknown_validator" {
		t.Fatalf("stranger's handshake: got %v, want unknown_validator", err)
	}
	if status, _, _ := rawRequest(t, "GET", g.URL+"/open", nil, nil); status != http.StatusOK {
		t.Errorf("GET /open: got %d, want 200", status)
	}
	if _, err := c.Post(ctx, "/echo", []byte(`{"q":1}`)); err != nil {
		t.Errorf("POST /echo: %v", err)
	}
	if status := rawHTTP(t, g.URL, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"); !strings.HasPrefix(status, "400") {
		t.Errorf("CL and TE together: got %q, want 400", status)
	}

	hs2 := series(t, g.Reg, "fibergate_handshakes_total")
	rq2 := series(t, g.Reg, "fibergate_requests_total")
	for k := range hs2 {
		if _, ok := hs[k]; !ok {
			t.Errorf("handshakes{%s}: appeared only with traffic; InitMetrics missed it", k)
		}
	}
	for k := range rq2 {
		if _, ok := rq[k]; !ok {
			t.Errorf("requests{%s}: appeared only with traffic; InitMetrics missed it", k)
		}
	}
	if got := hs2["ok"]; got != 1 {
		t.Errorf("handshakes{ok}: got %v, want 1", got)
	}
	if got := hs2["unknown_validator"]; got != 1 {
		t.Errorf("handshakes{unknown_validator}: got %v, want 1", got)
	}
	for _, w := range []struct {
		key  string
		want float64
	}{
		{"ok|/open", 1},
		{"ok|default", 1},
		{"ok|public_key", 2}, // each client's handshake fetched the key first
		{"bad_request|invalid_http", 1},
	} {
		if got := rq2[w.key]; got != w.want {
			t.Errorf("requests{%s}: got %v, want %v", w.key, got, w.want)
		}
	}
}
