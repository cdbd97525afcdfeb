package keystore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fibergate/fibergate/internal/redistest"
)

// RedisEviction reads a real redis-server's settings as they change, and
// says so when the server will not tell (a user without INFO or CONFIG, as
// managed services hand out).
func TestRedisEviction(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	c := NewRedisClient(RedisClientOptions{Addr: srv.Addr})
	t.Cleanup(func() { c.Close() })
	for _, tc := range []struct {
		policy, maxmemory string
		evicts            bool
	}{
		{"noeviction", "0", false},
		{"noeviction", "10mb", false},
		{"allkeys-lru", "10mb", true},
		{"volatile-lru", "10mb", true},
		{"volatile-ttl", "10mb", true},
		{"allkeys-random", "0", false}, // no limit: nothing is evicted
	} {
		for _, kv := range [][2]string{{"maxmemory-policy", tc.policy}, {"maxmemory", tc.maxmemory}} {
			if _, err := srv.Do(ctx, "CONFIG", "SET", kv[0], kv[1]); err != nil {
				t.Fatal(err)
			}
		}
		e, err := RedisEviction(ctx, c, time.Second)
		if err != nil || e.Policy != tc.policy || e.Evicts() != tc.evicts {
			t.Errorf("%s, maxmemory %s: got %+v (evicts %v), %v; want evicts %v", tc.policy, tc.maxmemory, e, e.Evicts(), err, tc.evicts)
		}
	}

	if _, err := srv.Do(ctx, "ACL", "SETUSER", "app", "on", ">secret", "~*", "&*", "+@all", "-info", "-config"); err != nil {
		t.Fatal(err)
	}
	limited := NewRedisClient(RedisClientOptions{Addr: srv.Addr, Username: "app", Password: "secret"})
	t.Cleanup(func() { limited.Close() })
	if _, err := RedisEviction(ctx, limited, time.Second); !errors.Is(err, ErrEvictionUnknown) {
		t.Errorf("a user without INFO and CONFIG: got %v, want ErrEvictionUnknown", err)
	}

	down := NewRedisClient(RedisClientOptions{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { down.Close() })
	if _, err := RedisEviction(ctx, down, time.Second); err == nil || errors.Is(err, ErrEvictionUnknown) {
		t.Errorf("an unreachable Redis: got %v, want a failed call, not ErrEvictionUnknown", err)
	}
}
