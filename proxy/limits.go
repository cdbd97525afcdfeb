package proxy

import (
	"net/netip"
	"time"

	"github.com/fibergate/fibergate/ratelimit"
	"github.com/valyala/fasthttp"
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

// refuse records how long to wait and returns the rate-limit code.
func refuse(ctx *fasthttp.RequestCtx, wait time.Duration) Code {
	ctx.SetUserValue(retryAfterKey, wait)
	return CodeRateLimited
}

// admit charges the global and per-address limits, before any other work.
func (l *limiter) admit(ctx *fasthttp.RequestCtx, client netip.Addr, now time.Time) Code {
	if ok, wait := l.global.Allow(now); !ok {
		return refuse(ctx, wait)
	}
	key := client.As16()
	if ok, wait := l.perIP.Allow(key[:], now); !ok {
		return refuse(ctx, wait)
	}
	return ""
}

// validator charges a verified validator's request limit.
func (l *limiter) validator(ctx *fasthttp.RequestCtx, pub [32]byte, now time.Time) Code {
	if ok, wait := l.perVal.Allow(pub, now); !ok {
		return refuse(ctx, wait)
	}
	return ""
}

// handshake charges a verified validator's key-exchange limit.
func (l *limiter) handshake(ctx *fasthttp.RequestCtx, pub [32]byte, now time.Time) Code {
	if ok, wait := l.handshakes.Allow(pub, now); !ok {
		return refuse(ctx, wait)
	}
	return ""
}
