package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/fibergate/fibergate/chain"
	"github.com/fibergate/fibergate/config"
	"github.com/fibergate/fibergate/metrics"
	"github.com/fibergate/fibergate/validators"
)

// chainOptions builds the validator registry's chain source from the
// config, reporting to m; nil when validators.chain.url is empty.
func chainOptions(c config.Chain, m *metrics.Metrics, log *slog.Logger) (*validators.ChainOptions, error) {
	if c.URL == "" {
		return nil, nil
	}
	rule := chain.StakeFiber21
	if c.Stake == config.StakeFiber25 {
		rule = chain.StakeFiber25
	}
	stale := validators.StaleRefuse
	if c.Stale == config.StaleServe {
		stale = validators.StaleServe
	}
	client, err := chain.New(chain.Options{
		URL:               c.URL,
		NetUID:            uint16(c.NetUID),
		Rule:              rule,
		AllowNewerRuntime: c.AllowNewerRuntime,
	})
	if err != nil {
		return nil, fmt.Errorf("validators.chain: %w", err)
	}
	if c.CacheFile == "" {
		log.Warn("validators.chain has no cache_file (and keystore.persist_file is not set): " +
			"a restart while the chain is unreachable starts without the chain's validators")
	}
	return &validators.ChainOptions{
		Fetcher:    client,
		NetUID:     uint16(c.NetUID),
		Rule:       rule,
		Refresh:    c.Refresh,
		StaleAfter: c.StaleAfter,
		Stale:      stale,
		Timeout:    c.Timeout,
		CacheFile:  c.CacheFile,
		OnEvent:    func(ev validators.ChainEvent) { recordChainEvent(m, ev) },
	}, nil
}

// recordChainEvent updates the chain metrics.
func recordChainEvent(m *metrics.Metrics, ev validators.ChainEvent) {
	switch ev.Kind {
	case validators.ChainLoaded:
		m.ChainLoaded(ev.Status.Count, ev.Status.Refreshed, ev.Status.Block)
	case validators.ChainFailed:
		m.ChainRefreshFailed(chain.FailureReason(ev.Err))
	}
	m.ChainStale(ev.Status.Stale)
}

// chainReadiness says what the chain list means for /readyz at now: not
// ready while stale under stale: refuse (with the reason), or a note while
// stale under stale: serve. Both are empty with no chain source or a fresh
// list.
func chainReadiness(vals *validators.Registry, now time.Time) (notReady bool, msg string) {
	st, ok := vals.ChainStatus()
	if !ok || !st.Stale {
		return false, ""
	}
	var why string
	if st.Refreshed.IsZero() {
		why = "no validator list read from the chain yet"
	} else {
		why = fmt.Sprintf("the chain validator list is stale: read %s ago, more than validators.chain.stale_after (%s)",
			now.Sub(st.Refreshed).Round(time.Second), st.StaleAfter)
	}
	if st.Refusing {
		return true, "not ready: " + why + "; validators known only from the chain are refused"
	}
	return false, "ready, but " + why + "; serving the last good list (validators.chain.stale: serve)"
}
