package proxy

import (
	"sync"
	"sync/atomic"

	"github.com/fibergate/fibergate/crypto/signature"
	"github.com/fibergate/fibergate/crypto/ss58"
)

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
