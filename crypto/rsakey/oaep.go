package rsakey

import (
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"io"
)

// SymmetricKeySize is the size of the key Fiber's validator wraps: the
// 32-byte Fernet key.
const SymmetricKeySize = 32

// DecryptSymmetricKey unwraps the symmetric key a validator sent to POST
// /exchange-symmetric-key: RSA-OAEP with SHA-256 as both the hash and the
// MGF1 hash and an empty label. The ciphertext must be exactly priv.Size()
// bytes (Go's crypto/rsa alone also takes one with its leading zero byte
// dropped; Python's cryptography, and so Fiber, does not) and the plaintext
// exactly SymmetricKeySize bytes (Fiber's server fails later, with a 500, on
// any other length).
//
// Every failure, including a nil key, returns ErrDecrypt itself and a zero
// key, so a caller cannot tell the checks apart, and neither can a peer.
// priv should come from this package (or be precomputed): a key without
// precomputed values is much slower. It is safe for concurrent use with
// the same key and does not retain ciphertext.
func DecryptSymmetricKey(priv *rsa.PrivateKey, ciphertext []byte) ([SymmetricKeySize]byte, error) {
	var key [SymmetricKeySize]byte
	if priv == nil || priv.N == nil || len(ciphertext) != priv.Size() {
		return key, ErrDecrypt
	}
	pt, err := rsa.DecryptOAEP(sha256.New(), nil, priv, ciphertext, nil)
	if err != nil || len(pt) != SymmetricKeySize {
		clear(pt)
		return key, ErrDecrypt
	}
	copy(key[:], pt)
	clear(pt)
	return key, nil
}

// EncryptSymmetricKey wraps key for a miner whose public key is pub, as
// Fiber's validator does: RSA-OAEP with SHA-256 and MGF1-SHA-256, no label.
// pub must have between MinBits and MaxBits bits. rand is handed to
// crypto/rsa (nil means crypto/rand.Reader), which since Go 1.26 ignores it
// unless GODEBUG=cryptocustomrand=1.
func EncryptSymmetricKey(pub *rsa.PublicKey, key [SymmetricKeySize]byte, rand io.Reader) ([]byte, error) {
	if pub == nil {
		return nil, fmt.Errorf("encrypting symmetric key: %w: nil key", ErrInvalidKey)
	}
	if err := checkSize(pub); err != nil {
		return nil, fmt.Errorf("encrypting symmetric key: %w", err)
	}
	ct, err := rsa.EncryptOAEP(sha256.New(), orDefault(rand), pub, key[:], nil)
	if err != nil {
		return nil, fmt.Errorf("encrypting symmetric key: %w", err)
	}
	return ct, nil
}
