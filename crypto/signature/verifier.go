package signature

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/oasisprotocol/curve25519-voi/curve"
)

// Errors returned by NewVerifier.
var (
	// ErrInvalidKey means the key can verify no signature under the enabled
	// schemes. The error also wraps the reason from each scheme, for example
	// sr25519.ErrIdentityKey.
	ErrInvalidKey = errors.New("public key usable by no enabled signature scheme")
	// ErrSmallOrderKey means the bytes are an Ed25519 point of small order,
	// for which signatures verifying over any message can be made without a
	// secret (Substrate's ZIP-215 verifier accepts them; fibergate does not).
	ErrSmallOrderKey = errors.New("small-order ed25519 public key")
	// errNotEdwardsPoint means the bytes do not decode to an Ed25519 point.
	errNotEdwardsPoint = errors.New("not an ed25519 point")
)

// Options selects the signature schemes a Verifier accepts. The zero value
// accepts sr25519 only, as Fiber does.
type Options struct {
	// AllowEd25519 also accepts Ed25519 signatures by the same 32 key bytes.
	// Substrate accounts may be Ed25519, but Fiber's server only verifies
	// sr25519. Default false.
	AllowEd25519 bool
}

// Verifier checks signatures by one hotkey. It is immutable and safe for
// concurrent use; build one per hotkey and keep it.
type Verifier struct {
	pub [32]byte
	sr  *sr25519.PublicKey // nil when pub is not a usable sr25519 key
	ed  ed25519.PublicKey  // nil unless Ed25519 is allowed and pub is usable
}

// NewVerifier decodes pub for the schemes opts enables. It fails with
// ErrInvalidKey when no enabled scheme can use pub: the sr25519 identity key
// and non-Ristretto bytes are refused, and so, for Ed25519, are bytes that
// are not a curve point or are a point of small order. With AllowEd25519 a
// key that only one scheme can use gives a Verifier for that scheme alone.
func NewVerifier(pub [32]byte, opts Options) (*Verifier, error) {
	v := &Verifier{pub: pub}
	srKey, srErr := sr25519.NewPublicKey(pub)
	if srErr == nil {
		v.sr = srKey
	}
	edErr := error(nil)
	if opts.AllowEd25519 {
		if edErr = checkEd25519Key(pub); edErr == nil {
			v.ed = ed25519.PublicKey(v.pub[:])
		}
	}
	if v.sr == nil && v.ed == nil {
		if !opts.AllowEd25519 {
			return nil, fmt.Errorf("building signature verifier: %w: %w", ErrInvalidKey, srErr)
		}
		return nil, fmt.Errorf("building signature verifier: %w: sr25519: %w; ed25519: %w", ErrInvalidKey, srErr, edErr)
	}
	return v, nil
}

// checkEd25519Key refuses bytes that are not an Edwards point and points of
// small order (the identity and the other torsion points), whose
// "signatures" verify over every message.
func checkEd25519Key(pub [32]byte) error {
	var y curve.CompressedEdwardsY
	if _, err := y.SetBytes(pub[:]); err != nil {
		return errNotEdwardsPoint
	}
	var p curve.EdwardsPoint
	if _, err := p.SetCompressedY(&y); err != nil {
		return errNotEdwardsPoint
	}
	if p.IsSmallOrder() {
		return ErrSmallOrderKey
	}
	return nil
}

// PublicKey returns the key bytes v verifies for.
func (v *Verifier) PublicKey() [32]byte {
	return v.pub
}

// Verify reports whether sig is v's key's signature over msg, or over
// "<Bytes>" + msg + "</Bytes>", under an enabled scheme. The top bit of the
// last signature byte tells the schemes apart: schnorrkel always sets it, and
// a canonical Ed25519 scalar never has it, so each signature costs the
// verifications of one scheme only. Verify does not retain msg or sig.
func (v *Verifier) Verify(msg []byte, sig *[64]byte) bool {
	if v == nil || sig == nil {
		return false
	}
	if sig[63]&0x80 != 0 {
		return v.sr != nil && v.sr.Verify(msg, sig)
	}
	return v.verifyEd25519(msg, sig)
}

// verifyEd25519 is the Ed25519 half of Verify: RFC 8032 over msg, then over
// the wrapped msg.
func (v *Verifier) verifyEd25519(msg []byte, sig *[64]byte) bool {
	if v.ed == nil {
		return false
	}
	if ed25519.Verify(v.ed, msg, sig[:]) {
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
	return ed25519.Verify(v.ed, wrapped, sig[:])
}

// The wrapping polkadot-js browser signers add, and how long a wrapped
// message may be before it is built on the heap.
const (
	wrapOpen  = "<Bytes>"
	wrapClose = "</Bytes>"
	wrapStack = 512
)
