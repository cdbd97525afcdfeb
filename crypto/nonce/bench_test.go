package nonce_test

import (
	"testing"

	"github.com/fibergate/fibergate/crypto/nonce"
)

func BenchmarkParse(b *testing.B) {
	n := []byte("1795640127884867857_P3gzXCkH5t")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := nonce.Parse(n); err != nil {
			b.Fatal(err)
		}
	}
}
