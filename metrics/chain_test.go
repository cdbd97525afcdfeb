package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The chain metrics are API: their names, labels and values are pinned.
func TestChainMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(reg, Build{Version: "v", Revision: "r", GoVersion: "go"}, Gauges{})
	m.ChainStale(true)
	m.ChainLoaded(1024, time.Unix(1_700_000_000, 500_000_000), 6852690)
	m.ChainStale(false)
	m.ChainRefreshFailed("timeout")
	m.ChainRefreshFailed("timeout")
	m.ChainRefreshFailed("unsupported_runtime")

	want := `
# HELP fibergate_validators_chain_block Block number the current chain validator list was read at (0 for a list loaded from the cache file).
# TYPE fibergate_validators_chain_block gauge
fibergate_validators_chain_block 6.85269e+06
# HELP fibergate_validators_chain_refresh_failures_total Failed reads of the chain validator list by reason: timeout, unreachable, node_error, bad_response, unsupported_runtime or no_subnet.
# TYPE fibergate_validators_chain_refresh_failures_total counter
fibergate_validators_chain_refresh_failures_total{reason="timeout"} 2
fibergate_validators_chain_refresh_failures_total{reason="unsupported_runtime"} 1
# HELP fibergate_validators_chain_stale 1 when the chain validator list is missing or older than validators.chain.stale_after, else 0.
# TYPE fibergate_validators_chain_stale gauge
fibergate_validators_chain_stale 0
# HELP fibergate_validators_last_refresh_timestamp_seconds Unix time of the last successful load of each validator source.
# TYPE fibergate_validators_last_refresh_timestamp_seconds gauge
fibergate_validators_last_refresh_timestamp_seconds{source="chain"} 1.7000000005e+09
# HELP fibergate_validators_loaded Validators each source supplies to the current list: static, nodes_file or chain.
# TYPE fibergate_validators_loaded gauge
fibergate_validators_loaded{source="chain"} 1024
# HELP fibergate_validators_reloads_total Validator source loads by source and result (ok or error).
# TYPE fibergate_validators_reloads_total counter
fibergate_validators_reloads_total{result="error",source="chain"} 3
fibergate_validators_reloads_total{result="ok",source="chain"} 1
`
	names := []string{
		"fibergate_validators_chain_block", "fibergate_validators_chain_refresh_failures_total",
		"fibergate_validators_chain_stale", "fibergate_validators_last_refresh_timestamp_seconds",
		"fibergate_validators_loaded", "fibergate_validators_reloads_total",
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	problems, err := testutil.GatherAndLint(reg, names...)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
