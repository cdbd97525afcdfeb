package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fibergate/fibergate/config"
	"github.com/fibergate/fibergate/keystore"
	"github.com/fibergate/fibergate/metrics"
	"github.com/fibergate/fibergate/proxy"
	"github.com/fibergate/fibergate/replay"
	"github.com/redis/go-redis/v9"
)

// opNonce and opPing name the replay guard's and the readiness probe's
// calls in fibergate_keystore_backend_errors_total, beside the store's.
const (
	opNonce = "nonce"
	opPing  = "ping"
)

// backendOps are every op label of the backend error counter.
var backendOps = []string{keystore.RedisOpGet, keystore.RedisOpPut, keystore.RedisOpDelete, keystore.RedisOpSubscription, keystore.RedisOpDecode, opNonce, opPing}

// evictionCheckEvery is how often Redis's eviction settings are read
// again: an operator may change them on a running Redis.
const evictionCheckEvery = 5 * time.Second

// backendLogEvery spaces out the warnings of a failing backend: every
// failure is counted, but an outage must not write a line per request.
const backendLogEvery = 10 * time.Second

// redisBackend is keystore.backend redis: one client shared by the key
// store and the replay guard.
type redisBackend struct {
	addr    string
	client  *redis.Client
	store   *keystore.Redis
	guard   *replay.Redis
	timeout time.Duration
	m       *metrics.Metrics // set by start
	log     *slog.Logger

	warnedUnknown atomic.Bool
	// evicts is 1 while Redis may evict keys, 0 while it may not, -1 while
	// it will not say (or has not been asked yet).
	evicts   atomic.Int32
	eviction atomic.Pointer[error] // why evicts is 1
}

// newRedisBackend builds the shared store and replay guard from cfg. It
// does not contact Redis: fibergate starts while Redis is down, answers 503
// to what needs it and reports not ready until Redis answers.
func newRedisBackend(cfg *config.Config, log *slog.Logger) (*redisBackend, error) {
	ks := cfg.Keystore
	rc := ks.Redis
	sk, err := storageKey(ks)
	if err != nil {
		return nil, err
	}
	password, err := redisPassword(rc)
	if err != nil {
		return nil, err
	}
	var tlsConf *tls.Config
	if rc.TLS {
		if tlsConf, err = redisTLS(rc); err != nil {
			return nil, err
		}
	}
	log = log.With("component", "redis")
	redis.SetLogger(redisLogger{log})
	client := keystore.NewRedisClient(keystore.RedisClientOptions{
		Addr:         rc.Addr,
		Username:     rc.Username,
		Password:     password,
		TLS:          tlsConf,
		DialTimeout:  rc.DialTimeout,
		ReadTimeout:  rc.ReadTimeout,
		WriteTimeout: rc.WriteTimeout,
		PoolSize:     rc.PoolSize,
	})
	warn := newThrottledWarn(log, backendLogEvery)
	b := &redisBackend{addr: rc.Addr, client: client, log: log,
		timeout: min(rc.DialTimeout+rc.ReadTimeout, 2*time.Second)}
	b.evicts.Store(-1)
	store, err := keystore.NewRedis(keystore.RedisOptions{
		Client:          client,
		StorageKey:      sk,
		Prefix:          rc.Prefix,
		TTL:             cfg.Handshake.KeyTTL,
		MaxPerValidator: cfg.Handshake.MaxKeysPerValidator,
		OnError: func(op string, err error) {
			b.m.BackendError(op)
			if op == keystore.RedisOpDecode {
				warn.warn("a key stored in redis does not open (damaged, sealed under another storage key, or moved); answered as no key, so the validator exchanges a new one",
					"err", err)
				return
			}
			warn.warn("redis call failed", "op", op, "err", err)
		},
	})
	if err != nil {
		client.Close()
		return nil, err
	}
	guard, err := replay.NewRedis(replay.RedisOptions{
		Client: client,
		Prefix: rc.Prefix,
		Window: cfg.NonceWindow,
		Sync:   store,
		OnError: func(err error) {
			b.m.BackendError(opNonce)
			warn.warn("redis call failed", "op", opNonce, "err", err)
		},
		OnLost: func(floor int64, found bool) {
			// The keys went with the nonces: drop the cached ones too.
			store.Forget()
			b.m.NonceGuardLost()
			log.Warn("redis lost the nonces (a FLUSHALL or FLUSHDB, a restart without persistence, or eviction): nonces stamped before the new floor are refused (503 nonce_unverifiable), and keys must be exchanged again",
				"floor", time.Unix(0, floor).UTC().Format(time.RFC3339Nano), "hold", replay.DefaultRecoveryHold.String(), "found_here", found)
		},
	})
	if err != nil {
		client.Close()
		return nil, err
	}
	log.Info("keys and nonces shared through redis", "addr", rc.Addr, "tls", rc.TLS, "prefix", rc.Prefix)
	b.store, b.guard = store, guard
	return b, nil
}

var _ backend = (*redisBackend)(nil)

func (b *redisBackend) gauges(g *metrics.Gauges) {
	g.NonceFloor, g.RedisEvicting = b.guard.Floor, b.evicting
}

// start hands the backend the metrics, before anything calls Redis.
func (b *redisBackend) start(m *metrics.Metrics) error {
	b.m = m
	m.InitBackend(backendOps)
	return nil
}

func (b *redisBackend) keys() keystore.Store      { return b.store }
func (b *redisBackend) nonces() proxy.ReplayGuard { return b.guard }

// run keeps the key cache coherent and watches Redis.
func (b *redisBackend) run(ctx context.Context) {
	go b.store.Run(ctx, time.Minute)
	go b.watch(ctx)
}

// save has nothing to write: Redis holds the keys and the nonces.
func (b *redisBackend) save() []error { return nil }

// close closes the connection to Redis.
func (b *redisBackend) close() { b.client.Close() }

// evicting is the fibergate_keystore_redis_evicting gauge.
func (b *redisBackend) evicting() int { return int(b.evicts.Load()) }

// watch keeps an eye on Redis until ctx is done: the replay guard's floor
// every second (a flush or restart is found without waiting for a
// request), the eviction settings every evictionCheckEvery.
func (b *redisBackend) watch(ctx context.Context) {
	go b.guard.Watch(ctx, time.Second)
	t := time.NewTicker(evictionCheckEvery)
	defer t.Stop()
	for {
		b.checkEviction(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkEviction reads Redis's eviction settings. While Redis may evict
// keys the replay guard refuses every nonce: a nonce set Redis drops to
// make room would let its nonces be replayed, and nothing says which. A
// Redis that will not tell (CONFIG and INFO forbidden) is trusted, with a
// warning; one that cannot be reached keeps the last answer.
func (b *redisBackend) checkEviction(ctx context.Context) {
	e, err := keystore.RedisEviction(ctx, b.client, b.timeout)
	var state int32
	switch {
	case errors.Is(err, keystore.ErrEvictionUnknown):
		state = -1
	case err != nil:
		return
	case e.Evicts():
		state = 1
	}
	old := b.evicts.Swap(state)
	switch state {
	case 1:
		reason := fmt.Errorf("redis %s has maxmemory-policy %s with maxmemory %d: it may evict nonces, letting them be replayed; set maxmemory-policy noeviction", b.addr, e.Policy, e.MaxMemory)
		b.eviction.Store(&reason)
		b.guard.Refuse(reason)
		if old != 1 {
			b.log.Error("refusing signed requests: "+reason.Error(), "policy", e.Policy, "maxmemory", e.MaxMemory)
		}
	case 0:
		b.guard.Refuse(nil)
		if old == 1 {
			b.log.Info("redis no longer evicts: serving signed requests again", "policy", e.Policy, "maxmemory", e.MaxMemory)
		}
	case -1:
		b.guard.Refuse(nil)
		if old != -1 || !b.warnedUnknown.Swap(true) {
			b.log.Warn("cannot read redis's maxmemory-policy; make sure it is noeviction (docs/replicas.md)", "err", err)
		}
	}
}

// ready is the readiness probe: Redis takes a write (an out-of-memory
// Redis refuses it) within the timeouts, does not evict, and the replay
// guard is not waiting out a loss of the nonces.
func (b *redisBackend) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	now := time.Now()
	if err := b.guard.Check(ctx, now.UnixNano()); err != nil {
		b.m.BackendError(opPing)
		return fmt.Errorf("redis %s cannot record a nonce: %w", b.addr, err)
	}
	if b.evicts.Load() != 0 {
		// Not known to be safe: read it again, so a fix shows at once.
		b.checkEviction(ctx)
	}
	if p := b.eviction.Load(); p != nil && b.evicts.Load() == 1 {
		return *p
	}
	if until := time.Unix(0, max(b.guard.Floor(), b.guard.Holding())); now.Before(until) {
		return fmt.Errorf("redis lost the nonces: the replay guard refuses nonces stamped before %s, for %s more",
			until.UTC().Format(time.RFC3339Nano), until.Sub(now).Round(time.Millisecond))
	}
	return nil
}

// maxSecretFile bounds what a password file may hold.
const maxSecretFile = 4096

// redisPassword reads the password from its variable or file; none is "".
// Errors never contain the value.
func redisPassword(c config.Redis) (string, error) {
	switch {
	case c.PasswordEnv != "":
		v, ok := os.LookupEnv(c.PasswordEnv)
		if !ok || strings.TrimSpace(v) == "" {
			return "", fmt.Errorf("keystore.redis.password_env: $%s is not set or empty", c.PasswordEnv)
		}
		return strings.TrimSpace(v), nil
	case c.PasswordFile != "":
		f, err := os.Open(c.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("keystore.redis.password_file: %w", err)
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
		if err != nil {
			return "", fmt.Errorf("keystore.redis.password_file: %w", err)
		}
		if len(b) > maxSecretFile {
			return "", fmt.Errorf("keystore.redis.password_file %q: over %d bytes, not a password", c.PasswordFile, maxSecretFile)
		}
		pw := strings.TrimSpace(string(b))
		if pw == "" {
			return "", fmt.Errorf("keystore.redis.password_file %q is empty", c.PasswordFile)
		}
		return pw, nil
	}
	return "", nil
}

// redisTLS builds the TLS configuration: the server must present a
// certificate for tls_server_name (or the host of addr) from a trusted CA.
func redisTLS(c config.Redis) (*tls.Config, error) {
	name := c.TLSServerName
	if name == "" {
		host, _, err := net.SplitHostPort(c.Addr)
		if err != nil {
			return nil, fmt.Errorf("keystore.redis.addr: %w", err)
		}
		name = host
	}
	conf := &tls.Config{ServerName: name, MinVersion: tls.VersionTLS12}
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("keystore.redis.tls_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("keystore.redis.tls_ca_file %q: no PEM certificate in it", c.TLSCAFile)
		}
		conf.RootCAs = pool
	}
	return conf, nil
}

// redisLogger sends the client library's own messages (dial failures,
// reconnects) to the log at debug level: fibergate logs and counts the
// failures that matter itself.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	if l.log.Enabled(ctx, slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, v...))
	}
}

// throttledWarn logs a warning at most once per interval and says how many
// were left out since the last one.
type throttledWarn struct {
	log     *slog.Logger
	every   time.Duration
	last    atomic.Int64
	dropped atomic.Int64
}

func newThrottledWarn(log *slog.Logger, every time.Duration) *throttledWarn {
	return &throttledWarn{log: log, every: every}
}

func (w *throttledWarn) warn(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := w.last.Load()
	if now-last < int64(w.every) || !w.last.CompareAndSwap(last, now) {
		w.dropped.Add(1)
		return
	}
	if n := w.dropped.Swap(0); n > 0 {
		args = append(args, "more_since_last_warning", n)
	}
	w.log.Warn(msg, args...)
}
