package rsakey

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
)

// PEM block types.
const (
	pkcs8Type     = "PRIVATE KEY"
	pkcs1Type     = "RSA PRIVATE KEY"
	encPKCS8Type  = "ENCRYPTED PRIVATE KEY"
	publicKeyType = "PUBLIC KEY"
)

// ParsePrivatePEM parses an RSA private key from the first PEM block of b,
// either PKCS#8 ("PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY"). Text before
// the block is ignored; a second PEM block after it is an error, so a file
// cannot silently hold two keys. The key must have between MinBits and
// MaxBits bits. The returned key is validated and precomputed.
//
// Errors wrap ErrNoPEM, ErrEncrypted (a passphrase-protected key, in either
// PKCS#8 or legacy OpenSSL form), ErrKeyType (another PEM type, or a PKCS#8
// key that is not RSA), ErrInvalidKey or ErrKeySize.
func ParsePrivatePEM(b []byte) (*rsa.PrivateKey, error) {
	k, err := parsePrivatePEM(b)
	if err != nil {
		return nil, fmt.Errorf("parsing RSA private key: %w", err)
	}
	return k, nil
}

func parsePrivatePEM(b []byte) (*rsa.PrivateKey, error) {
	block, err := onePEMBlock(b)
	if err != nil {
		return nil, err
	}
	if block.Type == encPKCS8Type || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
		return nil, ErrEncrypted
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case pkcs8Type:
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%w: PKCS#8 holds a %T", ErrKeyType, k)
		}
		key = rk
	case pkcs1Type:
		if key, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
		}
	default:
		return nil, fmt.Errorf("%w: PEM block %q, want %q or %q", ErrKeyType, block.Type, pkcs8Type, pkcs1Type)
	}
	if err := checkSize(&key.PublicKey); err != nil {
		return nil, err
	}
	// x509 validates and precomputes the keys it parses; Validate here is
	// cheap and guards that contract.
	if err := key.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	return key, nil
}

// MarshalPrivatePEM returns k as a PKCS#8 "PRIVATE KEY" PEM block, the form
// Python's cryptography writes and ParsePrivatePEM reads.
func MarshalPrivatePEM(k *rsa.PrivateKey) ([]byte, error) {
	if k == nil || k.N == nil {
		return nil, fmt.Errorf("marshalling RSA private key: %w: nil key", ErrInvalidKey)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("marshalling RSA private key: %w: %w", ErrInvalidKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pkcs8Type, Bytes: der}), nil
}

// PublicPEM returns pub as a SubjectPublicKeyInfo "PUBLIC KEY" PEM block
// with 64-character lines and a trailing newline: byte for byte what Fiber's
// miner serves from GET /public-encryption-key for the same key.
func PublicPEM(pub *rsa.PublicKey) ([]byte, error) {
	if pub == nil || pub.N == nil {
		return nil, fmt.Errorf("marshalling RSA public key: %w: nil key", ErrInvalidKey)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshalling RSA public key: %w: %w", ErrInvalidKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: publicKeyType, Bytes: der}), nil
}

// ParsePublicPEM parses an RSA public key from a SubjectPublicKeyInfo
// "PUBLIC KEY" PEM block, as a Fiber miner serves it. As for
// ParsePrivatePEM, text before the block is ignored, a second block is an
// error, and the key must have between MinBits and MaxBits bits.
func ParsePublicPEM(b []byte) (*rsa.PublicKey, error) {
	k, err := parsePublicPEM(b)
	if err != nil {
		return nil, fmt.Errorf("parsing RSA public key: %w", err)
	}
	return k, nil
}

func parsePublicPEM(b []byte) (*rsa.PublicKey, error) {
	block, err := onePEMBlock(b)
	if err != nil {
		return nil, err
	}
	if block.Type != publicKeyType {
		return nil, fmt.Errorf("%w: PEM block %q, want %q", ErrKeyType, block.Type, publicKeyType)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	pub, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: public key is a %T", ErrKeyType, k)
	}
	if err := checkSize(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// onePEMBlock returns the only PEM block in b.
func onePEMBlock(b []byte) (*pem.Block, error) {
	block, rest := pem.Decode(b)
	if block == nil {
		return nil, ErrNoPEM
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, fmt.Errorf("%w: more than one PEM block", ErrKeyType)
	}
	return block, nil
}

// checkSize refuses keys outside [MinBits, MaxBits].
func checkSize(pub *rsa.PublicKey) error {
	if pub.N == nil {
		return fmt.Errorf("%w: no modulus", ErrInvalidKey)
	}
	if n := pub.N.BitLen(); n < MinBits || n > MaxBits {
		return fmt.Errorf("%w: %d bits (want %d to %d)", ErrKeySize, n, MinBits, MaxBits)
	}
	return nil
}
