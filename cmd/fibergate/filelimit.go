package main

import (
	"fmt"
	"log/slog"

	"github.com/fibergate/fibergate/config"
)

// fdReserve is the file descriptors fibergate needs besides connections:
// listeners, the snapshot and state files, logs, the runtime's own.
const fdReserve = 64

// fdNeeded is how many file descriptors cfg can use at once: every
// validator connection limits.max_conns allows, every pooled connection to
// the app and to Redis, and the reserve.
func fdNeeded(cfg *config.Config) int {
	n := cfg.Limits.MaxConns + cfg.Upstream.MaxConns + fdReserve
	if cfg.Keystore.Backend == config.BackendRedis {
		n += cfg.Keystore.Redis.PoolSize + 1 // and the subscription
	}
	return n
}

// warnFileLimit raises the soft limit on open files to the hard one and
// warns when cfg can use more descriptors than that. Past the limit
// fibergate does not fail: it accepts new connections later and keeps
// serving the ones it holds (proxy.NewListener).
func warnFileLimit(log *slog.Logger, cfg *config.Config) {
	soft, hard, err := raiseFileLimit()
	if err != nil {
		log.Warn("cannot read or raise the limit on open files (RLIMIT_NOFILE)", "err", err)
		return
	}
	need := fdNeeded(cfg)
	if uint64(need) > soft {
		log.Warn(fileLimitAdvice(need, soft, hard), "limit", soft, "hard_limit", hard, "needed", need)
		return
	}
	log.Info("open files limit", "limit", soft, "needed_at_most", need)
}

// fileLimitAdvice says what a limit below need means and how to fix it.
func fileLimitAdvice(need int, soft, hard uint64) string {
	return fmt.Sprintf("limits.max_conns plus upstream.max_conns (and the Redis pool) can need %d file descriptors, more than this process may open (RLIMIT_NOFILE %d, hard limit %d): "+
		"past it new connections wait until one closes (counted in fibergate_listener_accept_errors_total{reason=\"fd_limit\"}); "+
		"raise the limit (ulimit -n, systemd LimitNOFILE=, the container runtime's nofile) or lower limits.max_conns", need, soft, hard)
}
