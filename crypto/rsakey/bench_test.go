package rsakey_test

import (
	"crypto/rsa"
	"testing"

	"github.com/fibergate/fibergate/crypto/rsakey"
)

func BenchmarkDecryptSymmetricKey(b *testing.B) {
	v := loadVectors(b)
	keys := vectorKeys(b, v)
	for _, size := range []string{"2048", "3072", "4096"} {
		priv := keys["rsa"+size]
		b.Run(size, func(b *testing.B) {
			benchDecrypt(b, priv)
		})
	}
}

// BenchmarkDecryptSymmetricKeyNotPrecomputed shows what a key built by hand
// (N, E, D and primes only) costs: crypto/rsa then redoes the
// precomputation on every call. Keys from this package are precomputed.
func BenchmarkDecryptSymmetricKeyNotPrecomputed(b *testing.B) {
	v := loadVectors(b)
	k := vectorKeys(b, v)["rsa2048"]
	bare := &rsa.PrivateKey{PublicKey: k.PublicKey, D: k.D, Primes: k.Primes}
	b.Run("2048", func(b *testing.B) {
		benchDecrypt(b, bare)
	})
}

func benchDecrypt(b *testing.B, priv *rsa.PrivateKey) {
	ct, err := rsakey.EncryptSymmetricKey(&priv.PublicKey, [32]byte{1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rsakey.DecryptSymmetricKey(priv, ct); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.Run("2048", func(b *testing.B) {
		for b.Loop() {
			if _, err := rsakey.Generate(2048, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
