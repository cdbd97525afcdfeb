package sr25519

import (
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/sr25519"
)

// Keypair is an sr25519 signing key. It is immutable and safe for concurrent
// use. Its String, GoString and LogValue methods never show the secret.
type Keypair struct {
	kp  *voi.KeyPair
	pub [32]byte
}

// KeypairFromSeed expands a 32-byte mini-secret the way Substrate,
// polkadot-js and subkey do (schnorrkel's Ed25519 expansion), so a seed gives
// the same public key there and here.
func KeypairFromSeed(seed [32]byte) (*Keypair, error) {
	msk, err := voi.NewMiniSecretKeyFromBytes(seed[:])
	if err != nil {
		return nil, fmt.Errorf("expanding sr25519 seed: %w", err)
	}
	kp := msk.ExpandEd25519().KeyPair()
	pub, err := kp.PublicKey().MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("expanding sr25519 seed: %w", err)
	}
	return &Keypair{kp: kp, pub: [32]byte(pub)}, nil
}

// Public returns the public key of kp.
func (kp *Keypair) Public() [32]byte {
	return kp.pub
}

// Sign signs msg under the "substrate" context. rand supplies witness
// randomness, which schnorrkel mixes with the key's nonce and the message
// (so a weak rand does not leak the key); nil means crypto/rand.Reader. The
// signature carries the schnorrkel marker bit, as polkadot-js and Fiber
// require. Sign does not retain msg.
func (kp *Keypair) Sign(msg []byte, rand io.Reader) ([SignatureSize]byte, error) {
	var out [SignatureSize]byte
	sig, err := kp.kp.Sign(rand, substrateContext.NewTranscriptBytes(msg))
	if err != nil {
		return out, fmt.Errorf("signing with sr25519: %w", err)
	}
	b, err := sig.MarshalBinary()
	if err != nil {
		return out, fmt.Errorf("signing with sr25519: %w", err)
	}
	copy(out[:], b)
	return out, nil
}

// LogValue implements slog.LogValuer: the public key, never the secret.
func (kp *Keypair) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("type", "sr25519"),
		slog.String("public", "0x"+hex.EncodeToString(kp.pub[:])),
		slog.String("secret", "REDACTED"),
	)
}

// String returns a description of kp that names its public key only.
func (kp *Keypair) String() string {
	return "sr25519 keypair 0x" + hex.EncodeToString(kp.pub[:]) + " (secret REDACTED)"
}

// GoString is String, so that %#v does not print the secret either.
func (kp *Keypair) GoString() string {
	return kp.String()
}
