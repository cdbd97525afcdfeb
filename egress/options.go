package egress

import (
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/keystore"
	"github.com/fibergate/fibergate/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// Mode is how a request is sent to a miner.
type Mode int

const (
	// ModeEncrypted is Fiber's encrypted flavour: a key exchanged with the
	// miner, signed headers, the JSON body with an inner nonce as a Fernet
	// token.
	ModeEncrypted Mode = iota
	// ModeSigned is Fiber 2.x's light flavour: the body as it is, signed
	// over its SHA-256 (a GET over the nonce and miner alone).
	ModeSigned
)

// String returns the mode's name, as config, headers and metrics spell it.
func (m Mode) String() string {
	if m == ModeSigned {
		return "signed"
	}
	return "encrypted"
}

// Modes are the values of the requests metric's mode label.
func Modes() []string { return []string{ModeEncrypted.String(), ModeSigned.String()} }

// parseMode reads a mode name, in any case.
func parseMode(b []byte) (Mode, bool) {
	switch {
	case strings.EqualFold(string(b), "encrypted"):
		return ModeEncrypted, true
	case strings.EqualFold(string(b), "signed"):
		return ModeSigned, true
	}
	return 0, false
}

// Route sets the mode of miner-side paths matching Path: an exact path, a
// prefix ending in "/*", or "*".
type Route struct {
	Path string
	Mode Mode
}

// match reports whether the route matches the miner-side path p.
func (r *Route) match(p []byte) bool {
	if r.Path == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(r.Path, "*"); ok {
		return len(p) >= len(prefix) && string(p[:len(prefix)]) == prefix
	}
	return string(p) == r.Path
}

// Timeouts bound the phases of a request to a miner. Zero fields take the
// defaults.
type Timeouts struct {
	Handshake time.Duration // a whole key exchange; default 10s
	Connect   time.Duration // opening a connection; default 3s
	FirstByte time.Duration // request sent to answer headers; default 60s
	Idle      time.Duration // between pieces of an answer; default 60s
	Total     time.Duration // the whole request; default 10m
}

// Limits bound sizes and concurrency. Zero fields take the defaults.
type Limits struct {
	MaxInFlight         int // requests at once; default 4096
	MaxInFlightPerMiner int // requests at once to one miner; default 512
	MaxBody             int // request body; default 10 MiB
	MaxResponse         int // a whole answer read from a miner; default 10 MiB
	MaxStreamLine       int // a line of an encrypted stream; default 1 MiB
}

// Backoff leaves a miner alone after AfterFailures consecutive failures to
// reach it, for Initial, doubling with each further failure up to Max.
type Backoff struct {
	AfterFailures int           // default 3
	Initial       time.Duration // default 1s
	Max           time.Duration // default 1m
}

// Defaults for the fields of Options left zero.
const (
	DefaultHandshakeTimeout    = 10 * time.Second
	DefaultConnectTimeout      = 3 * time.Second
	DefaultFirstByteTimeout    = 60 * time.Second
	DefaultIdleTimeout         = 60 * time.Second
	DefaultTotalTimeout        = 10 * time.Minute
	DefaultMaxInFlight         = 4096
	DefaultMaxInFlightPerMiner = 512
	DefaultMaxBody             = 10 << 20
	DefaultMaxResponse         = 10 << 20
	DefaultMaxStreamLine       = 1 << 20
	DefaultKeyTTL              = 5 * time.Hour
	DefaultRenewBefore         = 30 * time.Minute
	DefaultBackoffAfter        = 3
	DefaultBackoffInitial      = time.Second
	DefaultBackoffMax          = time.Minute
	// MaxMiners bounds the miners egress keeps state for (a subnet has a
	// few thousand uids at most); a request for one more is refused with
	// 503 overloaded.
	MaxMiners = 65536
)

// Options configure a Handler.
type Options struct {
	// Keypair is the validator's hotkey, which signs every request.
	// Required.
	Keypair *sr25519.Keypair
	// Directory finds miners' addresses. Required.
	Directory *Directory
	// Mode is the mode of paths no route matches.
	Mode Mode
	// Routes choose the mode by miner-side path; the first match wins.
	Routes []Route
	// EncryptedResponses asks miners for encrypted answers
	// (X-Fiber-Response-Encryption: fernet) in encrypted mode.
	EncryptedResponses bool
	// AllowExplicitAddress lets a request name the miner's address with
	// X-Fibergate-Address.
	AllowExplicitAddress bool
	// AllowClients are the caller addresses served; empty serves loopback
	// callers only.
	AllowClients []netip.Prefix
	Timeouts     Timeouts
	Limits       Limits
	Backoff      Backoff
	// KeyTTL is how long a miner keeps a key, and RenewBefore how long
	// before that a key in use is exchanged anew.
	KeyTTL, RenewBefore time.Duration
	// Keys, when set, is where exchanged keys are recorded (one per miner,
	// keyed by the miner's public key), and where keys restored from a
	// snapshot are taken from at start: give it MaxPerValidator 1 and
	// TTL KeyTTL. Nil keeps keys in the Handler only.
	Keys *keystore.Memory
	// Metrics receives the counts; nil means a private registry.
	Metrics *metrics.Egress
	// Logger receives the log; nil means slog.Default.
	Logger *slog.Logger
	// Rand supplies keys, nonces and IVs; nil means crypto/rand.
	Rand io.Reader
	// Now is the protocol clock (nonces, tokens, key lifetimes); nil means
	// time.Now.
	Now func() time.Time
}

// withDefaults checks o and fills its zero fields.
func (o Options) withDefaults() (Options, error) {
	if o.Keypair == nil {
		return o, errors.New("egress: a validator keypair is required")
	}
	if o.Directory == nil {
		return o, errors.New("egress: a miner directory is required")
	}
	t := &o.Timeouts
	t.Handshake = orDuration(t.Handshake, DefaultHandshakeTimeout)
	t.Connect = orDuration(t.Connect, DefaultConnectTimeout)
	t.FirstByte = orDuration(t.FirstByte, DefaultFirstByteTimeout)
	t.Idle = orDuration(t.Idle, DefaultIdleTimeout)
	t.Total = orDuration(t.Total, DefaultTotalTimeout)
	l := &o.Limits
	l.MaxInFlight = orInt(l.MaxInFlight, DefaultMaxInFlight)
	l.MaxInFlightPerMiner = orInt(l.MaxInFlightPerMiner, DefaultMaxInFlightPerMiner)
	l.MaxBody = orInt(l.MaxBody, DefaultMaxBody)
	l.MaxResponse = orInt(l.MaxResponse, DefaultMaxResponse)
	l.MaxStreamLine = orInt(l.MaxStreamLine, DefaultMaxStreamLine)
	b := &o.Backoff
	b.AfterFailures = orInt(b.AfterFailures, DefaultBackoffAfter)
	b.Initial = orDuration(b.Initial, DefaultBackoffInitial)
	b.Max = max(orDuration(b.Max, DefaultBackoffMax), b.Initial)
	o.KeyTTL = orDuration(o.KeyTTL, DefaultKeyTTL)
	o.RenewBefore = orDuration(o.RenewBefore, DefaultRenewBefore)
	if o.RenewBefore >= o.KeyTTL {
		o.RenewBefore = o.KeyTTL / 2
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewEgress(prometheus.NewRegistry(), metrics.Build{}, metrics.EgressGauges{})
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func orInt(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}
