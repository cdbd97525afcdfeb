package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fibergate/fibergate/config"
	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/keystore"
	"github.com/fibergate/fibergate/metrics"
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
var backendOps = []string{keystore.OpGet, keystore.OpPut, keystore.OpDelete, keystore.OpSubscription, opNonce, opPing}

// backendLogEvery spaces out the warnings of a failing backend: every
// failure is counted, but an outage must not write a line per request.
const backendLogEvery = 10 * time.Second

// redisBackend is keystore.backend redis: one client shared by the key
// store and the replay guard.
type redisBackend struct {
	addr    string
	client  *redis.Client
	store   *keystore.Redis
	guard   *replay.Guard
	timeout time.Duration
	m       *metrics.Metrics
}

// newRedisBackend builds the shared store and replay guard from cfg. It
// does not contact Redis: fibergate starts while Redis is down, answers 503
// to what needs it and reports not ready until Redis answers.
func newRedisBackend(cfg *config.Config, m *metrics.Metrics, log *slog.Logger) (*redisBackend, error) {
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
	store, err := keystore.NewRedis(keystore.RedisOptions{
		Client:          client,
		StorageKey:      sk,
		Prefix:          rc.Prefix,
		TTL:             cfg.Handshake.KeyTTL,
		MaxPerValidator: cfg.Handshake.MaxKeysPerValidator,
		OnError: func(op string, err error) {
			m.BackendError(op)
			warn.warn("redis call failed", "op", op, "err", err)
		},
	})
	if err != nil {
		client.Close()
		return nil, err
	}
	guard, err := replay.New(replay.Options{
		Client: client,
		Prefix: rc.Prefix,
		Window: cfg.NonceWindow,
		Sync:   store,
		OnError: func(err error) {
			m.BackendError(opNonce)
			warn.warn("redis call failed", "op", opNonce, "err", err)
		},
	})
	if err != nil {
		client.Close()
		return nil, err
	}
	m.InitBackend(backendOps)
	log.Info("keys and nonces shared through redis", "addr", rc.Addr, "tls", rc.TLS, "prefix", rc.Prefix)
	return &redisBackend{
		addr: rc.Addr, client: client, store: store, guard: guard,
		timeout: min(rc.DialTimeout+rc.ReadTimeout, 2*time.Second), m: m,
	}, nil
}

// check is the readiness probe: Redis answers PING within the timeouts.
func (b *redisBackend) check(ctx context.Context) error {
	if err := keystore.PingRedis(ctx, b.client, b.timeout); err != nil {
		b.m.BackendError(opPing)
		return fmt.Errorf("redis %s unreachable: %w", b.addr, err)
	}
	return nil
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
