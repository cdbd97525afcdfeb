package main

import (
	"testing"

	"github.com/fibergate/fibergate/config"
	"github.com/fibergate/fibergate/keystore"
	"github.com/fibergate/fibergate/proxy"
	"github.com/fibergate/fibergate/replay"
)

// The packages fill their own defaults for zero options (so a library user
// gets the same behaviour as serve); the config's defaults, which the
// docs' table is held to, must be the same values.
func TestPackageDefaultsAreTheConfigs(t *testing.T) {
	for _, c := range []struct {
		name      string
		pkg, conf any
	}{
		{"upstream.timeout", proxy.DefaultUpstreamTimeout, config.DefaultUpstreamTimeout},
		{"upstream.max_conns", proxy.DefaultUpstreamConns, config.DefaultUpstreamMaxConns},
		{"upstream.idle_timeout", proxy.DefaultUpstreamIdle, config.DefaultUpstreamIdleTimeout},
		{"nonce_window", proxy.DefaultNonceWindow, config.DefaultNonceWindow},
		{"handshake.key_ttl (proxy)", proxy.DefaultKeyTTL, config.DefaultKeyTTL},
		{"handshake.key_ttl (keystore)", keystore.DefaultTTL, config.DefaultKeyTTL},
		{"handshake.max_keys_per_validator", keystore.DefaultMaxPerValidator, config.DefaultMaxKeysPerValidator},
		{"limits.max_body", proxy.DefaultMaxBody, int(config.DefaultMaxBody)},
		{"limits.max_response", proxy.DefaultMaxResponse, int(config.DefaultMaxResponse)},
		{"limits.max_stream_line", proxy.DefaultMaxStreamLine, int(config.DefaultMaxStreamLine)},
		{"limits.max_header", proxy.DefaultMaxHeader, int(config.DefaultMaxHeader)},
		{"limits.read_timeout", proxy.DefaultReadTimeout, config.DefaultReadTimeout},
		{"limits.write_timeout", proxy.DefaultWriteTimeout, config.DefaultWriteTimeout},
		{"limits.idle_timeout", proxy.DefaultIdleTimeout, config.DefaultIdleTimeout},
		{"limits.max_conns", proxy.DefaultMaxConns, config.DefaultMaxConns},
		{"keystore.persist_interval", keystore.DefaultPersistInterval, config.DefaultPersistInterval},
		{"keystore.redis.prefix (keys)", keystore.DefaultRedisPrefix, config.DefaultRedisPrefix},
		{"keystore.redis.prefix (nonces)", replay.DefaultPrefix, config.DefaultRedisPrefix},
		{"keystore.redis.dial_timeout", keystore.DefaultRedisDialTimeout, config.DefaultRedisDialTimeout},
		{"keystore.redis.read_timeout", keystore.DefaultRedisReadTimeout, config.DefaultRedisReadTimeout},
		{"keystore.redis.write_timeout", keystore.DefaultRedisWriteTimeout, config.DefaultRedisWriteTimeout},
		{"keystore.redis.pool_size", keystore.DefaultRedisPoolSize, config.DefaultRedisPoolSize},
		{"replay.max_memory", int64(replay.DefaultMaxMemory), int64(config.DefaultReplayMaxMemory)},
	} {
		if c.pkg != c.conf {
			t.Errorf("%s: the package's default is %v, the config's %v", c.name, c.pkg, c.conf)
		}
	}
}
