package proxy

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fibergate/fibergate/crypto/nonce"
	"github.com/fibergate/fibergate/crypto/signature"
	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/keystore"
	"github.com/valyala/fasthttp"
)

// Validators is what the proxy needs of the validator list: the stake of a
// known validator, by decoded public key. It must be safe for concurrent use
// and cheap (it is called on every request).
type Validators interface {
	Stake(pub [32]byte) (stake float64, ok bool)
}

// ReplayGuard remembers nonces so each is accepted once: replay.Memory in
// one process, replay.Redis shared by replicas.
type ReplayGuard interface {
	// Remember records one nonce (see replay.Memory.Remember).
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

// identity is a validator hotkey as seen on the wire, decoded once, with
// its signature verifier built once.
type identity struct {
	pub      [32]byte
	ss58     string // canonical spelling (prefix 42), for the app and logs
	verifier *signature.Verifier
}

// identityCache maps hotkey spellings to decoded identities. Only hotkeys
// that were known validators when first seen are cached, so unknown hotkeys
// cost no memory; the size is also capped. Reads take a shard's read lock.
type identityCache struct {
	opts   signature.Options
	max    int
	count  atomic.Int64
	shards [16]identityShard
}

type identityShard struct {
	mu sync.RWMutex
	m  map[string]*identity
}

func newIdentityCache(opts signature.Options, max int) *identityCache {
	c := &identityCache{opts: opts, max: max}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*identity)
	}
	return c
}

func (c *identityCache) shard(hotkey []byte) *identityShard {
	var h uint32 = 2166136261
	for _, b := range hotkey {
		h = (h ^ uint32(b)) * 16777619
	}
	return &c.shards[h%uint32(len(c.shards))]
}

// lookup returns the identity for a hotkey spelling, decoding and caching it
// when known(pub) says the key belongs to a validator. It returns a Code
// when the hotkey is malformed, unknown or cannot be a signer.
func (c *identityCache) lookup(hotkey []byte, known func([32]byte) bool) (*identity, Code) {
	s := c.shard(hotkey)
	s.mu.RLock()
	id := s.m[string(hotkey)]
	s.mu.RUnlock()
	if id != nil {
		return id, ""
	}
	pub, _, err := ss58.DecodeBytes(hotkey)
	if err != nil {
		return nil, CodeInvalidHotkey
	}
	if !known(pub) {
		return nil, CodeUnknownValidator
	}
	v, err := signature.NewVerifier(pub, c.opts)
	if err != nil {
		// A listed key that is not a usable public key (the all-zero key,
		// a non-point) can never sign: treat it as unknown.
		return nil, CodeUnknownValidator
	}
	id = &identity{pub: pub, ss58: ss58.Encode(pub, ss58.Bittensor), verifier: v}
	if c.count.Load() >= int64(c.max) {
		return id, "" // full: serve without caching
	}
	s.mu.Lock()
	if _, ok := s.m[string(hotkey)]; !ok {
		s.m[string(hotkey)] = id
		c.count.Add(1)
	}
	s.mu.Unlock()
	return id, ""
}

// nonceCode maps the nonce package's errors to error codes.
func nonceCode(err error, body bool) Code {
	switch {
	case errors.Is(err, nonce.ErrReplayed):
		if body {
			return CodeBodyNonceReplayed
		}
		return CodeNonceReplayed
	case errors.Is(err, nonce.ErrFull):
		return CodeNonceCapacity
	case errors.Is(err, nonce.ErrUnavailable):
		return CodeStoreUnavailable
	case errors.Is(err, nonce.ErrUnverifiable):
		return CodeNonceUnverifiable
	case body:
		return CodeBodyNonceInvalid
	case errors.Is(err, nonce.ErrTooOld):
		return CodeNonceExpired
	case errors.Is(err, nonce.ErrTooNew):
		return CodeNonceFuture
	}
	return CodeNonceMalformed
}

// rememberRefusal is nonceCode for a refusal of the replay guard itself:
// a nonce stamped before the guard's floor also says, in Retry-After, when
// a freshly signed request will be accepted. now is unix ns.
func rememberRefusal(ctx *fasthttp.RequestCtx, err error, body bool, now int64) Code {
	var ue nonce.UnverifiableError
	if errors.As(err, &ue) {
		ctx.SetUserValue(retryAfterKey, time.Duration(ue.Floor-now)+time.Nanosecond)
	}
	return nonceCode(err, body)
}

// parseSignature wraps sr25519.ParseSignature for the proxy's error codes.
func parseSignature(s []byte, sig *[64]byte) Code {
	v, err := sr25519.ParseSignature(s)
	if err != nil {
		return CodeSignatureFormat
	}
	*sig = v
	return ""
}
