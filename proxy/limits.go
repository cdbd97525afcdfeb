package proxy

import (
	"net/netip"
	"time"

	"github.com/fibergate/fibergate/ratelimit"
)

// Sizes of the rate-limit tables: client addresses hash into a fixed table,
// and at most this many validators get limits of their own.
const (
	ipSlots       = 1 << 16
	maxValidators = 1 << 16
)

// limiter applies RateLimits. All its checks are lock-free.
type limiter struct {
	global     *ratelimit.Limit
	perIP      *ratelimit.Table
	perVal     *ratelimit.Keyed
	handshakes *ratelimit.Keyed
}

func newLimiter(l RateLimits) *limiter {
	return &limiter{
		global:     ratelimit.New(l.Global),
		perIP:      ratelimit.NewTable(l.PerIP, ipSlots),
		perVal:     ratelimit.NewKeyed(l.PerValidator, maxValidators),
		handshakes: ratelimit.NewKeyed(l.HandshakesPerValidator, maxValidators),
	}
}

// limited is the refusal for a limit that is spent: rate_limited, with
// the wait until it allows again.
func limited(ok bool, wait time.Duration) refusal {
	if ok {
		return refusal{}
	}
	return refusal{code: CodeRateLimited, wait: wait}
}

// admit charges the global and per-address limits, before any other work.
func (l *limiter) admit(client netip.Addr, now time.Time) refusal {
	if r := limited(l.global.Allow(now)); r.refused() {
		return r
	}
	key := client.As16()
	return limited(l.perIP.Allow(key[:], now))
}

// validator charges a verified validator's request limit.
func (l *limiter) validator(pub [32]byte, now time.Time) refusal {
	return limited(l.perVal.Allow(pub, now))
}

// handshake charges a verified validator's key-exchange limit.
func (l *limiter) handshake(pub [32]byte, now time.Time) refusal {
	return limited(l.handshakes.Allow(pub, now))
}
