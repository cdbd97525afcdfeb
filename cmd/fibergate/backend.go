package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/fibergate/fibergate/config"
	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/keystore"
	"github.com/fibergate/fibergate/metrics"
	"github.com/fibergate/fibergate/proxy"
)

// backend is where serve keeps the symmetric keys and the used nonces:
// keystore.backend memory (this process, kept across restarts in
// keystore.persist_file: memoryBackend) or redis (shared by replicas:
// redisBackend). serve builds one and wires it in; nothing else it does
// depends on which.
type backend interface {
	// gauges adds the backend's own gauges to g, before the metrics
	// exist; they read the backend at scrape time.
	gauges(g *metrics.Gauges)
	// start hands the backend the metrics and makes it ready to serve
	// (the saved keys restored, the replay guard's floor reported and its
	// first horizon recorded). Nothing is served before it returns.
	start(m *metrics.Metrics) error
	// keys and nonces are the key store and the replay guard the proxy
	// uses.
	keys() keystore.Store
	nonces() proxy.ReplayGuard
	// run starts the background jobs (sweeps, saves, watching Redis),
	// which end when ctx is done.
	run(ctx context.Context)
	// ready is the readiness probe's question to the backend: nil when a
	// nonce can be recorded now, else why not.
	ready(ctx context.Context) error
	// save writes what must survive a restart, at shutdown, once the
	// server takes no more requests and the background jobs are stopped.
	// It logs and returns every failure.
	save() []error
	// close releases the backend when serve returns, however it ends; if
	// serve fails after start and before save, it leaves what a clean
	// stop would have.
	close()
}

// openBackend builds the backend cfg names. It reads what was saved (a
// snapshot that cannot be read is an error: starting empty would drop
// every key) but contacts no server.
func openBackend(cfg *config.Config, log *slog.Logger) (backend, error) {
	if cfg.Keystore.Backend == config.BackendRedis {
		b, err := newRedisBackend(cfg, log)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	b, err := openMemoryBackend(cfg, log)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// storageKey reads the storage key from the configured source.
func storageKey(c config.Keystore) (*fernet.Key, error) {
	var key *fernet.Key
	var err error
	if c.StorageKeyFile != "" {
		key, err = keystore.StorageKeyFromFile(c.StorageKeyFile)
	} else {
		key, err = keystore.StorageKeyFromEnv(c.StorageKeyEnv)
	}
	if err != nil {
		return nil, fmt.Errorf("keystore storage key: %w", err)
	}
	return key, nil
}
