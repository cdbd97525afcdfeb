package fernet

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"sync"
)

// KeySize is the length in bytes of a raw Fernet key: the first 16 bytes key
// the HMAC, the last 16 the AES cipher.
const KeySize = 32

// ErrInvalidKey is wrapped by every error NewKey and ParseKey return.
var ErrInvalidKey = errors.New("invalid fernet key")

// Key is a Fernet key with its AES key schedule and HMAC state prepared.
// A Key is immutable and safe for concurrent use; the zero Key is not
// usable, make one with NewKey or ParseKey. A Key must not be copied.
type Key struct {
	raw   [KeySize]byte
	block cipher.Block
	// pool holds per-call scratch state (a keyed HMAC whose padded-key
	// blocks are already hashed, and small buffers), so that neither
	// Decrypt nor Encrypt has to allocate.
	pool sync.Pool
}

// scratch is the per-call working state taken from a Key's pool.
type scratch struct {
	mac hash.Hash
	sum [sha256.Size]byte
	// prev0 and prev1 hold the previous ciphertext block while encrypting.
	prev0, prev1 uint64
	last         [aes.BlockSize]byte
	iv           [aes.BlockSize]byte
	enc          encoder
}

// NewKey returns the Key whose raw form is raw, which must be exactly 32
// bytes. NewKey copies raw; the caller may reuse it.
func NewKey(raw []byte) (*Key, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("making fernet key: %w: got %d bytes, want %d", ErrInvalidKey, len(raw), KeySize)
	}
	k := &Key{}
	copy(k.raw[:], raw)
	block, err := aes.NewCipher(k.raw[16:])
	if err != nil {
		// Unreachable: 16 bytes is always a valid AES key size.
		return nil, fmt.Errorf("making fernet key: %w", err)
	}
	k.block = block
	sign := k.raw[:16]
	k.pool.New = func() any {
		m := hmac.New(sha256.New, sign)
		// The first Reset saves the hash states after the padded key
		// blocks, so that every later Reset restores them instead of
		// hashing the key again.
		m.Reset()
		return &scratch{mac: m}
	}
	return k, nil
}

// ParseKey parses the text form of a key: the base64 of its 32 bytes, 44
// characters with the trailing '='. Like Python's Fernet(key), it accepts
// the standard alphabet ('+', '/') as well as the URL-safe one ('-', '_'):
// a key is configuration, not peer input, and either spelling names the
// same 32 bytes. It accepts no whitespace, no missing padding and no
// non-canonical final character. Errors never contain the key text.
func ParseKey(s string) (*Key, error) {
	if len(s) != base64.URLEncoding.EncodedLen(KeySize) {
		return nil, fmt.Errorf("parsing fernet key: %w: got %d characters, want %d characters of url-safe base64",
			ErrInvalidKey, len(s), base64.URLEncoding.EncodedLen(KeySize))
	}
	var text [44]byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '+':
			c = '-'
		case '/':
			c = '_'
		}
		text[i] = c
	}
	var raw [33]byte
	n, err := strictEncoding.Decode(raw[:], text[:])
	if err != nil || n != KeySize {
		return nil, fmt.Errorf("parsing fernet key: %w: not the base64 of %d bytes", ErrInvalidKey, KeySize)
	}
	return NewKey(raw[:KeySize])
}

// Raw returns a copy of the key's 32 bytes.
func (k *Key) Raw() [KeySize]byte {
	return k.raw
}

// String returns the key's usual text form, the URL-safe base64 of its 32
// bytes. It is the secret itself: never log or print it (LogValue redacts
// the key for slog).
func (k *Key) String() string {
	return base64.URLEncoding.EncodeToString(k.raw[:])
}

// LogValue implements slog.LogValuer so that a Key passed to a logger shows
// as a placeholder, never as its bytes.
func (k *Key) LogValue() slog.Value {
	return slog.StringValue("REDACTED")
}

// GoString redacts the key for the %#v verb as well.
func (k *Key) GoString() string {
	return "fernet.Key{REDACTED}"
}
