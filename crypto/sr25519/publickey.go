package sr25519

import (
	"errors"
	"fmt"

	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
	"github.com/oasisprotocol/curve25519-voi/primitives/merlin"
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

// substrateTranscript is the Merlin transcript schnorrkel starts every
// "substrate" signature from, as voi's NewSigningContext builds it. It is
// read-only: each verification copies it (a value of about 230 bytes) onto
// its own stack.
var substrateTranscript = func() merlin.Transcript {
	t := merlin.NewTranscript("SigningContext")
	t.AppendMessage("", []byte(SigningContext))
	return *t
}()

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
// concurrent use. Decoding builds a table of multiples of the key (about
// 1.5 KiB) that makes each verification cheaper and allocation-free, and
// costs about half a verification, so decode a key once and keep it.
type PublicKey struct {
	raw [32]byte
	pk  voi.PublicKey
	// negA is -A, the negated key, in curve25519-voi's expanded form: the
	// precomputed table of its odd multiples that the double-base scalar
	// multiplication of every verification would otherwise build anew.
	negA curve.ExpandedRistrettoPoint
	// ok is set by NewPublicKey: a zero PublicKey verifies nothing.
	ok bool
}

// NewPublicKey decodes pub. It refuses bytes that are not a canonical
// Ristretto encoding (ErrInvalidPublicKey) and the identity key
// (ErrIdentityKey).
func NewPublicKey(pub [32]byte) (*PublicKey, error) {
	if pub == ([32]byte{}) {
		return nil, fmt.Errorf("decoding sr25519 public key: %w", ErrIdentityKey)
	}
	k := &PublicKey{raw: pub}
	var c curve.CompressedRistretto
	var a curve.RistrettoPoint
	if _, err := c.SetBytes(pub[:]); err != nil {
		return nil, fmt.Errorf("decoding sr25519 public key: %w", ErrInvalidPublicKey)
	}
	if _, err := a.SetCompressed(&c); err != nil {
		return nil, fmt.Errorf("decoding sr25519 public key: %w", ErrInvalidPublicKey)
	}
	if err := k.pk.UnmarshalBinary(pub[:]); err != nil {
		return nil, fmt.Errorf("decoding sr25519 public key: %w", ErrInvalidPublicKey)
	}
	a.Neg(&a)
	k.negA.SetRistrettoPoint(&a)
	k.ok = true
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
	var sc sigScalar
	if !k.parse(sig, &sc) {
		return false
	}
	return k.verify(msg, sig, &sc)
}

// Verify reports whether sig is k's signature over msg as a Fiber server
// checks it: VerifyStrict over msg, and if that fails, VerifyStrict over
// "<Bytes>" + msg + "</Bytes>". A signature that fails both costs two
// verifications. Verify does not retain msg or sig.
func (k *PublicKey) Verify(msg []byte, sig *[64]byte) bool {
	var sc sigScalar
	if !k.parse(sig, &sc) {
		// A malformed signature fails over any message; skip the retry.
		return false
	}
	if k.verify(msg, sig, &sc) {
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
	return k.verify(wrapped, sig, &sc)
}

// sigScalar is the s half of a signature, decoded.
type sigScalar struct{ s scalar.Scalar }

// parse decodes the scalar of sig into sc, reporting whether sig is a
// well-formed schnorrkel signature for a usable key: the marker bit set
// and, without it, a canonical scalar (as voi's Signature.UnmarshalBinary
// requires).
func (k *PublicKey) parse(sig *[64]byte, sc *sigScalar) bool {
	if k == nil || !k.ok || sig == nil || sig[63]&0x80 == 0 {
		return false
	}
	var b [32]byte
	copy(b[:], sig[32:])
	b[31] &= 0x7f
	if !scalar.ScMinimalVartime(b[:]) {
		return false
	}
	_, err := sc.s.SetCanonicalBytes(b[:])
	return err == nil
}

// verify is schnorrkel's verification, as voi's PublicKey.Verify does it,
// with the key's precomputed table: the challenge k is read from the
// transcript of the context, msg, the protocol name, the key and R, and
// the signature holds when [k](-A) + [s]B - R is the identity (voi
// multiplies every term by a small invertible delta, which keeps that
// test exact). It allocates nothing.
func (k *PublicKey) verify(msg []byte, sig *[64]byte, sc *sigScalar) bool {
	var rc curve.CompressedRistretto
	var r curve.RistrettoPoint
	copy(rc[:], sig[:32])
	if _, err := r.SetCompressed(&rc); err != nil {
		return false
	}
	t := substrateTranscript
	t.AppendMessage("sign-bytes", msg)
	t.AppendMessage("proto-name", []byte("Schnorr-sig"))
	t.AppendMessage("sign:pk", k.raw[:])
	t.AppendMessage("sign:R", sig[:32])
	var wide [scalar.ScalarWideSize]byte
	t.ExtractBytes(wide[:], "sign:c")
	var c scalar.Scalar
	if _, err := c.SetBytesModOrderWide(wide[:]); err != nil {
		return false
	}
	var out curve.RistrettoPoint
	return out.ExpandedTripleScalarMulBasepointVartime(&c, &k.negA, &sc.s, &r).IsIdentity()
}

// verifyLibrary is the same check by curve25519-voi's own
// PublicKey.Verify, which the tests hold verify to.
func (k *PublicKey) verifyLibrary(msg []byte, sig *[64]byte) bool {
	if k == nil || sig == nil || sig[63]&0x80 == 0 {
		return false
	}
	var s voi.Signature
	if s.UnmarshalBinary(sig[:]) != nil {
		return false
	}
	return k.pk.Verify(substrateContext.NewTranscriptBytes(msg), &s)
}
