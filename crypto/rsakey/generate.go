package rsakey

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
)

// Key sizes, in bits.
const (
	// DefaultBits is the size Generate uses when asked for 0 bits, and the
	// size Fiber's own miner uses.
	DefaultBits = 2048
	// MinBits is the smallest key this package loads or uses.
	MinBits = 2048
	// MaxBits is the largest key this package loads or uses.
	MaxBits = 16384
)

// Generate returns a new RSA private key of bits bits, which must be 2048,
// 3072 or 4096; 0 means DefaultBits. The key is validated and precomputed.
//
// rand is handed to crypto/rsa (nil means crypto/rand.Reader), but since
// Go 1.26 crypto/rsa always draws from the system's secure source and
// ignores it unless GODEBUG=cryptocustomrand=1; tests that need
// reproducible keys use testing/cryptotest.SetGlobalRandom.
func Generate(bits int, rand io.Reader) (*rsa.PrivateKey, error) {
	if bits == 0 {
		bits = DefaultBits
	}
	switch bits {
	case 2048, 3072, 4096:
	default:
		return nil, fmt.Errorf("generating RSA key: %d bits: %w (want 2048, 3072 or 4096)", bits, ErrKeySize)
	}
	k, err := rsa.GenerateKey(orDefault(rand), bits)
	if err != nil {
		return nil, fmt.Errorf("generating %d-bit RSA key: %w", bits, err)
	}
	return k, nil
}

func orDefault(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}
