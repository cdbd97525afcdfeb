package sr25519

import (
	"errors"

	schnorrkel "github.com/ChainSafe/go-schnorrkel"
)

// schnorrkelKey is PublicKey built on github.com/ChainSafe/go-schnorrkel. It
// is the benchmark baseline and a second opinion on every verdict; the
// package uses curve25519-voi, which passes the same vectors in about half
// the time (see BenchmarkVerify).
type schnorrkelKey struct {
	pk *schnorrkel.PublicKey
}

func newSchnorrkelKey(pub [32]byte) (*schnorrkelKey, error) {
	if pub == ([32]byte{}) {
		return nil, ErrIdentityKey
	}
	pk, err := schnorrkel.NewPublicKey(pub)
	if err != nil {
		return nil, errors.Join(ErrInvalidPublicKey, err)
	}
	// Encode caches the compressed key inside pk on first use; do it now so
	// later verifications only read pk.
	pk.Encode()
	return &schnorrkelKey{pk: pk}, nil
}

func (k *schnorrkelKey) verifyStrict(msg []byte, sig *[64]byte) bool {
	var s schnorrkel.Signature
	if err := s.Decode(*sig); err != nil {
		return false
	}
	ok, err := k.pk.Verify(&s, schnorrkel.NewSigningContext([]byte(SigningContext), msg))
	return err == nil && ok
}

func (k *schnorrkelKey) verify(msg []byte, sig *[64]byte) bool {
	if k.verifyStrict(msg, sig) {
		return true
	}
	wrapped := append(append([]byte(wrapOpen), msg...), wrapClose...)
	return k.verifyStrict(wrapped, sig)
}

// schnorrkelPublic derives the public key of a mini-secret with
// go-schnorrkel, to cross-check KeypairFromSeed.
func schnorrkelPublic(seed [32]byte) ([32]byte, error) {
	msk, err := schnorrkel.NewMiniSecretKeyFromRaw(seed)
	if err != nil {
		return [32]byte{}, err
	}
	return msk.Public().Encode(), nil
}
