package rsakey_test

import (
	"errors"
	"testing"

	"github.com/fibergate/fibergate/crypto/rsakey"
)

func TestGenerateRefusesSizes(t *testing.T) {
	for _, bits := range []int{-2048, -1, 1, 512, 1024, 2047, 2049, 2560, 8192, 16384} {
		k, err := rsakey.Generate(bits, nil)
		if !errors.Is(err, rsakey.ErrKeySize) || k != nil {
			t.Errorf("Generate(%d) = %v, %v; want nil, ErrKeySize", bits, k != nil, err)
		}
	}
}

func TestGenerate(t *testing.T) {
	sizes := []int{0, 3072}
	if !testing.Short() {
		sizes = append(sizes, 4096)
	}
	for _, bits := range sizes {
		want := bits
		if bits == 0 {
			want = rsakey.DefaultBits
		}
		k, err := rsakey.Generate(bits, nil)
		if err != nil {
			t.Fatalf("Generate(%d): %v", bits, err)
		}
		if got := k.N.BitLen(); got != want {
			t.Errorf("Generate(%d) made a %d-bit key, want %d", bits, got, want)
		}
		if k.E != 65537 {
			t.Errorf("Generate(%d): e = %d, want 65537", bits, k.E)
		}
		if k.Precomputed.Dp == nil || k.Precomputed.Qinv == nil {
			t.Errorf("Generate(%d): key not precomputed", bits)
		}
		// It survives the file format and does the job.
		b, err := rsakey.MarshalPrivatePEM(k)
		if err != nil {
			t.Fatal(err)
		}
		back, err := rsakey.ParsePrivatePEM(b)
		if err != nil || !back.Equal(k) {
			t.Fatalf("Generate(%d): PEM round trip: %v", bits, err)
		}
		ct, err := rsakey.EncryptSymmetricKey(&k.PublicKey, [32]byte{1, 2, 3}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if key, err := rsakey.DecryptSymmetricKey(k, ct); err != nil || key != [32]byte{1, 2, 3} {
			t.Errorf("Generate(%d): unwrap = %x, %v", bits, key, err)
		}
	}
}
