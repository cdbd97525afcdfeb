package loadgen

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/fibergate/fibergate/crypto/ss58"
)

// Defaults for Options fields left zero.
const (
	DefaultValidators  = 16
	DefaultConcurrency = 64
	DefaultDuration    = 10 * time.Second
	DefaultWarmup      = time.Second
	DefaultPath        = "/echo"
	DefaultNonceWindow = 120 * time.Second
	DefaultTimeout     = 10 * time.Second
	DefaultMaxBody     = 10 << 20
	// DefaultMaxPresignBytes bounds the memory pre-signed requests may hold
	// when Options.MaxPresigned is zero.
	DefaultMaxPresignBytes = 512 << 20
	// DefaultAhead is how far ahead of use requests are signed in a run too
	// long to sign up front.
	DefaultAhead = 10 * time.Second
)

// DefaultPayload is the JSON object sent when Options.Payload is empty.
const DefaultPayload = `{"prompt":"fibergate bench"}`

// Options configure a Run. Only URL and Miner are required.
type Options struct {
	// URL is the target's base URL, e.g. http://127.0.0.1:8080 (required).
	URL string
	// Miner is the target miner's SS58 hotkey (required).
	Miner string
	// Validators is the number of simulated validators, 0 to Validators-1
	// (see ValidatorSeed). Default 16. In flood mode they are the staked
	// identities the bad requests borrow.
	Validators int
	// Concurrency is the number of workers, and so the most requests in
	// flight. Default 64.
	Concurrency int
	// Rate is the fixed rate in operations per second; 0 is a closed loop.
	// Flood mode needs a rate.
	Rate float64
	// Duration is the length of the measured phase. Default 10 s.
	Duration time.Duration
	// Warmup is how long a closed loop runs before the measured phase, to
	// open connections and estimate the target's throughput (which sizes
	// the pre-signed batches). Default 1 s; negative skips it.
	Warmup time.Duration
	// Path is the request path of encrypted requests. Default /echo.
	Path string
	// Payload is the JSON object each request carries, before the "nonce"
	// field is added as Fiber's client adds it. Default DefaultPayload.
	Payload []byte
	// Size pads the payload with a "pad" string field so that its JSON
	// text, before the nonce is added, is at least Size bytes.
	Size int
	// EncryptedResponse asks for encrypted answers
	// (X-Fiber-Response-Encryption: fernet); each answer must then arrive
	// encrypted and decrypt under the validator's key.
	EncryptedResponse bool
	// CheckEcho requires each answer (after decryption) to contain the
	// request's inner nonce, as an echo app's answer does.
	CheckEcho bool
	// HandshakesOnly measures handshakes instead of requests: each
	// operation is a GET /public-encryption-key and a POST
	// /exchange-symmetric-key.
	HandshakesOnly bool
	// Flood sends a mix of bad requests at Rate (see FloodKinds) instead of
	// honest ones.
	Flood bool
	// Plain sends plain POSTs instead: the padded payload with a fresh
	// "nonce" field (the body an app behind a Fiber server receives), as
	// application/json, with no handshake, no Fiber headers, no signature
	// and no encryption. It measures an app, or a proxy that does no
	// Fiber work, with the same generator as encrypted requests. Miner is
	// then optional, and Flood, HandshakesOnly and EncryptedResponse are
	// refused.
	Plain bool
	// MaxBody is the target's body limit; flood mode's oversized requests
	// announce one byte more. Default 10 MiB.
	MaxBody int
	// SeedPrefix is the prefix of the validators' seed strings. Default
	// DefaultSeedPrefix.
	SeedPrefix string
	// NonceWindow is the target's nonce window; a pre-signed request is
	// used within three quarters of it. Default 120 s.
	NonceWindow time.Duration
	// Timeout bounds each HTTP exchange. Default 10 s.
	Timeout time.Duration
	// MaxPresigned bounds how many pre-signed operations are held at once;
	// 0 derives a bound from DefaultMaxPresignBytes.
	MaxPresigned int
	// Ahead is how far ahead of use operations are signed when the run is
	// too long to sign everything up front. Default 10 s.
	Ahead time.Duration
	// Rand supplies keys, nonces, IVs and signature randomness; it must be
	// safe for concurrent use. nil means crypto/rand.
	Rand io.Reader
	// Now is the clock nonces and tokens are stamped with, which must agree
	// with the target's. nil means time.Now. Scheduling uses the real clock.
	Now func() time.Time
}

// ErrOptions is wrapped by every error about bad Options.
var ErrOptions = errors.New("loadgen: bad options")

// withDefaults checks o, fills defaults and returns the parsed target.
func (o *Options) withDefaults() (*url.URL, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	u, err := url.Parse(o.URL)
	switch {
	case o.URL == "":
		bad("URL is required")
	case err != nil:
		bad("URL %q: %v", o.URL, err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		bad("URL %q: want http://host:port or https://host:port", o.URL)
	}
	if o.Miner == "" {
		if !o.Plain {
			bad("Miner is required")
		}
	} else if _, _, err := ss58.Decode(o.Miner); err != nil {
		bad("Miner %q: %v", o.Miner, err)
	}
	if o.Validators == 0 {
		o.Validators = DefaultValidators
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Warmup == 0 {
		o.Warmup = DefaultWarmup
	}
	if o.Path == "" {
		o.Path = DefaultPath
	}
	if len(o.Payload) == 0 {
		o.Payload = []byte(DefaultPayload)
	}
	if o.MaxBody == 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.SeedPrefix == "" {
		o.SeedPrefix = DefaultSeedPrefix
	}
	if o.NonceWindow == 0 {
		o.NonceWindow = DefaultNonceWindow
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Ahead == 0 {
		o.Ahead = DefaultAhead
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Validators < 1 || o.Validators > maxValidators {
		bad("Validators %d: want 1 to %d", o.Validators, maxValidators)
	}
	if o.Concurrency < 1 || o.Concurrency > 100_000 {
		bad("Concurrency %d: want 1 to 100000", o.Concurrency)
	}
	if o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) || o.Rate > 10_000_000 {
		bad("Rate %v: want 0 (closed loop) or a rate up to 1e7 per second", o.Rate)
	}
	if o.Duration < 0 {
		bad("Duration %v: want a positive duration", o.Duration)
	}
	if !strings.HasPrefix(o.Path, "/") {
		bad("Path %q: want an absolute path", o.Path)
	}
	if p := bytes.TrimSpace(o.Payload); len(p) < 2 || p[0] != '{' || p[len(p)-1] != '}' {
		bad("Payload: want a JSON object")
	}
	if o.Size < 0 || o.Size > 64<<20 {
		bad("Size %d: want 0 to 64 MiB", o.Size)
	}
	if o.Flood && o.HandshakesOnly {
		bad("Flood and HandshakesOnly exclude each other")
	}
	if o.Plain && (o.Flood || o.HandshakesOnly || o.EncryptedResponse) {
		bad("Plain excludes Flood, HandshakesOnly and EncryptedResponse")
	}
	if o.Flood && o.Rate == 0 {
		bad("Flood needs a Rate")
	}
	if o.MaxBody < 1 {
		bad("MaxBody %d: want a positive size", o.MaxBody)
	}
	if o.NonceWindow < 4*time.Second {
		bad("NonceWindow %v: want at least 4s", o.NonceWindow)
	}
	if o.Timeout < 0 || o.Ahead < 0 || o.MaxPresigned < 0 {
		bad("Timeout, Ahead and MaxPresigned must not be negative")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrOptions, strings.Join(problems, "; "))
	}
	return u, nil
}

// maxValidators bounds Options.Validators (validator indices are uint32
// in pre-signed items, and each validator costs a handshake).
const maxValidators = 1 << 20

// usableAge is how long after signing a pre-signed operation is still sent:
// three quarters of the window, leaving room for clock skew and queueing.
func (o *Options) usableAge() time.Duration { return o.NonceWindow * 3 / 4 }
