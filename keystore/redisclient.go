package keystore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
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

// Eviction is what Redis says of its eviction of keys.
type Eviction struct {
	// Policy is maxmemory-policy: noeviction, allkeys-lru, volatile-ttl...
	Policy string
	// MaxMemory is maxmemory in bytes; 0 means no limit.
	MaxMemory int64
}

// Evicts reports whether Redis may drop keys to make room: a policy other
// than noeviction under a memory limit. (Without a limit nothing is
// evicted whatever the policy.)
func (e Eviction) Evicts() bool { return e.Policy != "noeviction" && e.MaxMemory != 0 }

// ErrEvictionUnknown is returned by RedisEviction when Redis answered but
// would not tell its eviction settings: INFO and CONFIG GET both refused
// (managed services may rename or forbid them), or their answers lacked
// the fields.
var ErrEvictionUnknown = errors.New("redis does not say its maxmemory-policy")

// RedisEviction reads Redis's eviction settings from INFO memory, which
// managed services that refuse CONFIG (ElastiCache, Memorystore) still
// answer, or else from CONFIG GET. An error wrapping ErrEvictionUnknown
// means Redis would not tell; any other error is a failed call.
func RedisEviction(ctx context.Context, c redis.UniversalClient, timeout time.Duration) (Eviction, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	info, infoErr := c.Info(ctx, "memory").Result()
	if infoErr == nil {
		if e, ok := parseEviction(info); ok {
			return e, nil
		}
		infoErr = errors.New("no maxmemory_policy in INFO memory")
	} else if !isServerError(infoErr) {
		return Eviction{}, infoErr
	}
	vals, err := c.ConfigGet(ctx, "maxmemory*").Result()
	if err != nil {
		if !isServerError(err) {
			return Eviction{}, err
		}
		return Eviction{}, fmt.Errorf("%w: INFO: %v; CONFIG GET: %v", ErrEvictionUnknown, infoErr, err)
	}
	policy, ok := vals["maxmemory-policy"]
	mem, perr := strconv.ParseInt(vals["maxmemory"], 10, 64)
	if !ok || perr != nil {
		return Eviction{}, fmt.Errorf("%w: INFO: %v; CONFIG GET lacks maxmemory-policy", ErrEvictionUnknown, infoErr)
	}
	return Eviction{Policy: policy, MaxMemory: mem}, nil
}

// isServerError reports whether err is Redis's answer (an error reply:
// unknown command, NOPERM...) rather than a failed connection.
func isServerError(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !errors.Is(err, redis.Nil)
}

// parseEviction reads maxmemory and maxmemory_policy from INFO's text.
func parseEviction(info string) (Eviction, bool) {
	var e Eviction
	var havePolicy, haveMem bool
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "maxmemory_policy":
			e.Policy, havePolicy = v, true
		case "maxmemory":
			n, err := strconv.ParseInt(v, 10, 64)
			e.MaxMemory, haveMem = n, err == nil
		}
	}
	return e, havePolicy && haveMem
}
