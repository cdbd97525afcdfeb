package proxy

import (
	"crypto/rsa"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/fibergate/fibergate/crypto/nonce"
	"github.com/fibergate/fibergate/keystore"
	"github.com/fibergate/fibergate/metrics"
	"github.com/fibergate/fibergate/ratelimit"
)

// Defaults for Options fields left zero.
const (
	DefaultNonceWindow     = 120 * time.Second
	DefaultKeyTTL          = 5 * time.Hour
	DefaultUpstreamTimeout = 60 * time.Second
	DefaultUpstreamConns   = 512
	DefaultMaxBody         = 10 << 20
	DefaultIdentityCache   = 100_000
	DefaultMaxResponse     = 10 << 20
	DefaultMaxStreamLine   = 1 << 20
)

// Options configure a Handler. Fields marked required must be set.
type Options struct {
	// MinerHotkey is this miner's public key (required): requests naming
	// another miner are refused.
	MinerHotkey [32]byte
	// RSAKey is the handshake key (required).
	RSAKey *rsa.PrivateKey
	// Keys stores the exchanged symmetric keys (required).
	Keys keystore.Store
	// Nonces is the replay guard (required).
	Nonces ReplayGuard
	// Stakes says who may talk to the miner, with their stake (required).
	Stakes Stakes
	// AllowEd25519 also accepts ed25519 hotkey signatures (Fiber never does).
	AllowEd25519 bool
	// NonceWindow is how far a nonce's time may be from ours either way;
	// tokens older than it are refused too. Default 120 s, as Fiber.
	NonceWindow time.Duration
	// KeyTTL is how long an exchanged key lives. Default 5 h, as Fiber.
	KeyTTL time.Duration
	// Routes are matched in order; Default takes unmatched paths.
	Routes  []Route
	Default Route
	// Upstream is the app's base URL (http://host:port); required.
	UpstreamURL string
	// UpstreamTimeout bounds the wait for the app's response headers, and
	// each wait for more of a streamed body. Default 60 s.
	UpstreamTimeout time.Duration
	// UpstreamConns caps open connections to the app. Default 512.
	UpstreamConns int
	// UpstreamIdle is how long a pooled connection to the app may stay
	// idle and still be used; keep it below the app's keep-alive timeout.
	// Default 1 s.
	UpstreamIdle time.Duration
	// MaxBody caps request bodies in bytes (413 above). Default 10 MiB.
	MaxBody int
	// MaxResponse caps a buffered (fixed-length) answer from the app in
	// bytes; a larger one is refused with 502 upstream_too_large before any
	// of it is read. Default 10 MiB.
	MaxResponse int
	// MaxStreamLine caps one line of a stream fibergate encrypts; a longer
	// line ends the stream as cut off. Default 1 MiB.
	MaxStreamLine int
	// TrustedProxies are the front proxies whose X-Forwarded-For is
	// believed; empty: the connection's peer is the client.
	TrustedProxies []netip.Prefix
	// Metrics receives the handler's metrics (required).
	Metrics *metrics.Metrics
	// Logger receives access and error logs; nil discards them.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time
	// Rand supplies IVs for encrypted responses; nil means crypto/rand.
	Rand io.Reader
	// Limits are the rate limits; the zero value limits nothing.
	Limits RateLimits
}

// Stakes is what the proxy needs of the validator list: for a decoded
// public key, whether it is listed, its stake, and whether it may be
// served (its stake is at least the minimum: validators.Eligible). It must
// be safe for concurrent use and cheap (it is called on every request).
type Stakes interface {
	Stake(pub [32]byte) (stake float64, listed, eligible bool)
}

// ReplayGuard remembers nonces so each is accepted once: replay.Memory in
// one process, replay.Redis shared by replicas.
type ReplayGuard interface {
	// Remember records one nonce.
	Remember(scope nonce.Scope, n []byte, ts, now int64) error
	// RememberPair records two nonces as one operation, all or nothing,
	// which is one round trip for a shared guard; when one is refused it
	// returns its index (0 or 1) and why, and neither is recorded, so a
	// request refused with 429 nonce_capacity is served when sent again.
	RememberPair(a, b nonce.Record, now int64) (int, error)
	Len() int
}

// keyRefresher is a key store that serves entries from a local cache in
// front of a shared backend: Fresh reads past the cache. When a token does
// not open under a cached key, the validator may just have exchanged a new
// one on another replica; the proxy then tries once more with Fresh.
type keyRefresher interface {
	Fresh(validator [32]byte, uuid []byte, now time.Time) (*keystore.Entry, error)
}

// RateLimits bound how fast requests are served. Each limit with a zero
// rate is off. Refusals are 429 rate_limited with Retry-After.
type RateLimits struct {
	// Global limits all requests together.
	Global ratelimit.Rate
	// PerIP limits each client address, before any signature is checked:
	// it is what stops one source from burning CPU on forged signatures.
	PerIP ratelimit.Rate
	// PerValidator limits each verified validator's proxied requests.
	PerValidator ratelimit.Rate
	// HandshakesPerValidator limits each verified validator's key
	// exchanges, each of which costs an RSA decryption.
	HandshakesPerValidator ratelimit.Rate
}
