package sr25519

import (
	"errors"
	"fmt"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/sr25519"
)

// SigningContext is the schnorrkel signing context of Substrate and so of
// every Bittensor hotkey signature.
const SigningContext = "substrate"

// Errors returned by NewPublicKey.
var (
	// ErrInvalidPublicKey means the bytes are not the canonical encoding of a
	// Ristretto point.
	ErrInvalidPublicKey = errors.New("not a valid ristretto255 point")
	// ErrIdentityKey means the key is the identity point (32 zero bytes), for
	// which a signature verifying over any message can be made without a
	// secret.
	ErrIdentityKey = errors.New("identity public key")
)

// substrateContext is read-only after initialisation: NewTranscriptBytes
// clones it, so sharing it between goroutines is safe.
var substrateContext = voi.NewSigningContext([]byte(SigningContext))

// wrapOpen and wrapClose are the wrapping polkadot-js browser signers put
// around a message before signing it.
const (
	wrapOpen  = "<Bytes>"
	wrapClose = "</Bytes>"
)

// wrapStack is how long a wrapped message may be before Verify builds it on
// the heap instead of the stack.
const wrapStack = 512

// PublicKey is a decoded sr25519 public key. It is immutable and safe for
// concurrent use. Decoding costs about a fifth of a verification, so decode
// a key once and keep it.
type PublicKey struct {
	raw [32]byte
	pk  voi.PublicKey
}

// NewPublicKey decodes pub. It refuses bytes that are not a canonical
// Ristretto encoding (ErrInvalidPublicKey) and the identity key
// (ErrIdentityKey).
func NewPublicKey(pub [32]byte) (*PublicKey, error) {
	if pub == ([32]byte{}) {
		return nil, fmt.Errorf("decoding sr25519 public key: %w", ErrIdentityKey)
	}
	k := &PublicKey{raw: pub}
	if err := k.pk.UnmarshalBinary(pub[:]); err != nil {
		return nil, fmt.Errorf("decoding sr25519 public key: %w", ErrInvalidPublicKey)
	}
	return k, nil
}

// Bytes returns the 32-byte encoding of k.
func (k *PublicKey) Bytes() [32]byte {
	return k.raw
}

// VerifyStrict reports whether sig is k's signature over msg, with no
// wrapper retry. sig must carry schnorrkel's marker bit (the top bit of its
// last byte) and a canonical scalar. VerifyStrict does not retain msg or sig.
func (k *PublicKey) VerifyStrict(msg []byte, sig *[64]byte) bool {
	var s voi.Signature
	if !k.parse(sig, &s) {
		return false
	}
	return k.pk.Verify(substrateContext.NewTranscriptBytes(msg), &s)
}

// Verify reports whether sig is k's signature over msg as a Fiber server
// checks it: VerifyStrict over msg, and if that fails, VerifyStrict over
// "<Bytes>" + msg + "</Bytes>". A signature that fails both costs two
// verifications. Verify does not retain msg or sig.
func (k *PublicKey) Verify(msg []byte, sig *[64]byte) bool {
	var s voi.Signature
	if !k.parse(sig, &s) {
		// A malformed signature fails over any message; skip the retry.
		return false
	}
	if k.pk.Verify(substrateContext.NewTranscriptBytes(msg), &s) {
		return true
	}
	var stack [wrapStack]byte
	wrapped := stack[:0]
	if n := len(wrapOpen) + len(msg) + len(wrapClose); n > wrapStack {
		wrapped = make([]byte, 0, n)
	}
	wrapped = append(wrapped, wrapOpen...)
	wrapped = append(wrapped, msg...)
	wrapped = append(wrapped, wrapClose...)
	return k.pk.Verify(substrateContext.NewTranscriptBytes(wrapped), &s)
}

// parse decodes sig into s, reporting whether it is a well-formed schnorrkel
// signature for a usable key.
func (k *PublicKey) parse(sig *[64]byte, s *voi.Signature) bool {
	if k == nil || sig == nil || sig[63]&0x80 == 0 {
		return false
	}
	return s.UnmarshalBinary(sig[:]) == nil
}
