package keystore

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Defaults for RedisClientOptions.
const (
	DefaultRedisDialTimeout  = time.Second
	DefaultRedisReadTimeout  = 500 * time.Millisecond
	DefaultRedisWriteTimeout = 500 * time.Millisecond
	DefaultRedisPoolSize     = 64
)

// RedisClientOptions configures the Redis connection a Redis store and a
// shared replay guard use. Zero durations and sizes take the defaults.
type RedisClientOptions struct {
	// Addr is Redis's host:port (required).
	Addr string
	// Username and Password authenticate (AUTH / ACL); both may be empty.
	Username string
	Password string
	// TLS, when set, is the TLS configuration; nil means plain TCP.
	TLS *tls.Config
	// DialTimeout bounds opening a connection, ReadTimeout and
	// WriteTimeout each command's reply and request. Defaults 1 s,
	// 500 ms, 500 ms.
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// PoolSize is the number of pooled connections; a call waits at most
	// ReadTimeout for one when all are busy. Default 64.
	PoolSize int
}

// NewRedisClient returns a client that fails fast: one dial attempt per
// connection, no retries (a retried SET NX could refuse its own nonce as a
// replay), every wait bounded by the timeouts. While Redis refuses
// connections the pool stops dialing after PoolSize failures and answers
// at once with the last error, probing in the background once a second, so
// calls resume by themselves when Redis is back. It does not contact Redis.
func NewRedisClient(o RedisClientOptions) *redis.Client {
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultRedisDialTimeout
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultRedisReadTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultRedisWriteTimeout
	}
	if o.PoolSize <= 0 {
		o.PoolSize = DefaultRedisPoolSize
	}
	return redis.NewClient(&redis.Options{
		Addr:            o.Addr,
		Username:        o.Username,
		Password:        o.Password,
		TLSConfig:       o.TLS,
		Protocol:        2,
		DialTimeout:     o.DialTimeout,
		DialerRetries:   1,
		ReadTimeout:     o.ReadTimeout,
		WriteTimeout:    o.WriteTimeout,
		MaxRetries:      -1,
		PoolSize:        o.PoolSize,
		PoolTimeout:     o.ReadTimeout,
		DisableIdentity: true,
		// Maintenance notifications need RESP3; say so rather than probe.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
}

// PingRedis checks that Redis answers PING within timeout, for readiness
// probes.
func PingRedis(ctx context.Context, c redis.UniversalClient, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis unreachable: %w", err)
	}
	return nil
}
