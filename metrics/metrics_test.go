package metrics

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

var update = flag.Bool("update", false, "rewrite testdata/exposition.golden from the current metrics")

// record performs a fixed set of events on a fresh registry, one or more of
// every kind New's metrics count, with durations chosen to land in known
// buckets.
func record(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	keys, nonces := 7, 42
	m := New(reg, Build{Version: "v1.2.3", Revision: "abc123", GoVersion: "go1.26.8"}, Gauges{
		SymmetricKeys:    func() int { return keys },
		NonceEntries:     func() int { return nonces },
		NonceBytes:       func() int64 { return 48 << 20 },
		NonceBudgetBytes: 64 << 20,
		NonceFloor:       func() int64 { return 1_700_000_300_500_000_000 },
		RedisEvicting:    func() int { return 1 },
	})
	m.InitResults([]string{"unknown_validator", "signature_invalid"}, []string{"upstream_timeout"}, []string{"/stream/*", "default"})
	m.InitStreams([]string{"complete", "upstream_error", "client_gone", "line_too_long", "internal_error"})

	m.Handshake(ResultOK, 300*time.Microsecond)              // le 0.0005
	m.Handshake(ResultOK, 2*time.Millisecond)                // le 0.0025
	m.Handshake("unknown_validator", 80*time.Microsecond)    // le 0.0001
	m.Handshake("nonce_replayed", 150*time.Microsecond)      // le 0.00025: a value InitResults was not given
	m.Request("default", ResultOK, 40*time.Millisecond)      // le 0.05
	m.Request("default", "upstream_timeout", 20*time.Second) // le 30
	m.Request("public_key", ResultOK, 50*time.Microsecond)   // le 0.0001
	m.Upstream("default", 1500*time.Millisecond)             // le 2.5
	m.Stream("complete")
	m.ValidatorsLoaded("static", 1, time.Unix(1_700_000_000, 0), nil)
	m.ValidatorsLoaded("nodes_file", 3, time.Unix(1_700_000_100, 0), nil)
	m.ValidatorsLoaded("nodes_file", 0, time.Time{}, errors.New("bad json"))
	m.SnapshotSaved(time.Unix(1_700_000_200, 0), nil)
	m.SnapshotSaved(time.Time{}, errors.New("disk full"))
	m.InitBackend([]string{"get", "nonce", "ping"})
	m.BackendError("nonce")
	m.BackendError("nonce")
	m.Panic()
	m.NonceGuardLost()
	m.NonceGuardSaved(nil)
	m.NonceGuardSaved(nil)
	m.NonceGuardSaved(errors.New("read-only file system"))
	m.AcceptError(AcceptFDLimit)
	return reg
}

// The whole fibergate_ exposition is API: dashboards and alerts query these
// names, labels and values. testdata/exposition.golden pins it; the values
// in it follow from the events in record.
func TestExposition(t *testing.T) {
	reg := record(t)
	golden := filepath.Join("testdata", "exposition.golden")
	if *update {
		writeGolden(t, reg, golden)
	}
	f, err := os.Open(golden)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := testutil.GatherAndCompare(reg, f); err != nil {
		t.Error(err)
	}
}

// Every metric passes promlint: _total on counters, base units, no
// reserved suffixes, help on everything.
func TestLint(t *testing.T) {
	reg := record(t)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// The names every metric must start with and follow, whatever the events.
func TestNames(t *testing.T) {
	reg := record(t)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, Namespace+"_") {
			t.Errorf("%s: want the %s_ prefix", name, Namespace)
		}
		isCounter := mf.GetType().String() == "COUNTER"
		if isCounter != strings.HasSuffix(name, "_total") {
			t.Errorf("%s: type %s: counters, and only counters, end in _total", name, mf.GetType())
		}
	}
}

// InitResults exposes every series it is given at 0 before any event, so a
// rate over the first refusal of a kind is not lost.
func TestInitResults(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(reg, Build{}, Gauges{})
	refusals := []string{"unknown_validator", "signature_invalid", "nonce_replayed"}
	routes := []string{"/a", "default", "public_key"}
	m.InitResults(refusals, []string{"upstream_unavailable", "upstream_timeout"}, routes)

	if got, want := testutil.CollectAndCount(m.handshakes), 1+len(refusals); got != want {
		t.Errorf("handshake series: got %d, want %d (ok and each refusal)", got, want)
	}
	if got, want := testutil.CollectAndCount(m.requests), len(routes)*3; got != want {
		t.Errorf("request series: got %d, want %d (ok and 2 results on each of %d routes)", got, want, len(routes))
	}
	for _, r := range append([]string{ResultOK}, refusals...) {
		if got := testutil.ToFloat64(m.handshakes.WithLabelValues(r)); got != 0 {
			t.Errorf("handshakes{result=%q}: got %v, want 0", r, got)
		}
	}
	// Recording after InitResults counts from 0, and InitResults again
	// (a second call is harmless) keeps what was counted.
	m.Handshake("signature_invalid", time.Millisecond)
	m.InitResults(refusals, nil, routes)
	if got := testutil.ToFloat64(m.handshakes.WithLabelValues("signature_invalid")); got != 1 {
		t.Errorf("handshakes{result=signature_invalid}: got %v, want 1", got)
	}
}

// Two Metrics on two registries share nothing: there are no package-level
// collectors, so each test (and each server) has its own counts.
func TestNoSharedState(t *testing.T) {
	r1, r2 := prometheus.NewRegistry(), prometheus.NewRegistry()
	m1 := New(r1, Build{}, Gauges{})
	m2 := New(r2, Build{}, Gauges{})
	m1.Handshake(ResultOK, time.Millisecond)
	m1.Handshake(ResultOK, time.Millisecond)
	m2.Handshake(ResultOK, time.Millisecond)
	if got := testutil.ToFloat64(m1.handshakes.WithLabelValues(ResultOK)); got != 2 {
		t.Errorf("first registry: got %v handshakes, want 2", got)
	}
	if got := testutil.ToFloat64(m2.handshakes.WithLabelValues(ResultOK)); got != 1 {
		t.Errorf("second registry: got %v handshakes, want 1", got)
	}
}

// writeGolden writes reg's exposition to path; a person then checks the
// diff against the events in record before committing it.
func writeGolden(t *testing.T, reg *prometheus.Registry, path string) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
