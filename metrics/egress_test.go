package metrics

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// recordEgress performs a fixed set of egress events on a fresh registry.
func recordEgress(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m := NewEgress(reg, Build{Version: "v1.2.3", Revision: "abc123", GoVersion: "go1.26.8"}, EgressGauges{
		Keys:     func() int { return 3 },
		InFlight: func() int { return 2 },
	})
	m.Init([]string{"encrypted", "signed"}, []string{"miner_unreachable"}, []string{"ok", "failed"}, []string{"new", "unknown_key"},
		[]string{"complete", "miner_error"}, []string{"static", "chain"})
	m.Request("encrypted", ResultOK, 3*time.Millisecond)        // le 0.005
	m.Request("signed", "miner_refused", 40*time.Millisecond)   // le 0.05
	m.Request("encrypted", "miner_timeout", 20*time.Second)     // le 30
	m.Miner("encrypted", 2*time.Millisecond)                    // le 0.0025
	m.Handshake("ok", "new", 8*time.Millisecond)                // le 0.01
	m.Handshake("refused", "unknown_key", 900*time.Microsecond) // le 0.001
	m.Stream("complete")
	m.SourceLoaded("static", 1, nil)
	m.SourceLoaded("chain", 1024, nil)
	m.SourceLoaded("chain", 0, errors.New("timeout"))
	m.Backoff()
	m.SnapshotSaved(time.Unix(1_700_000_300, 0), nil)
	m.Panic()
	return reg
}

// egress's exposition is API too: testdata/egress.golden pins it.
func TestEgressExposition(t *testing.T) {
	reg := recordEgress(t)
	golden := filepath.Join("testdata", "egress.golden")
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
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if n := mf.GetName(); n != "fibergate_build_info" && !strings.HasPrefix(n, "fibergate_egress_") {
			t.Errorf("%s: want the fibergate_egress_ prefix", n)
		}
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "hotkey" || l.GetName() == "miner" || l.GetName() == "address" {
					t.Errorf("%s has a per-miner label %s", mf.GetName(), l.GetName())
				}
			}
		}
	}
}
