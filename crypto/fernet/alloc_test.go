package fernet

import (
	"bytes"
	"testing"
)

func TestHotPathDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	k := mustParseKey(t, testKeyText)
	pt := bytes.Repeat([]byte("x"), 5000)
	var iv [16]byte
	tok := k.Encrypt(nil, pt, 1, &iv)
	dec := make([]byte, 0, MaxDecodedLen(len(tok)))
	enc := make([]byte, 0, EncodedLen(len(pt)))
	tests := []struct {
		name string
		f    func()
	}{
		{"Decrypt", func() {
			if _, _, err := k.Decrypt(dec, tok); err != nil {
				t.Fatal(err)
			}
		}},
		{"Decrypt refusing", func() { k.Decrypt(dec, tok[:len(tok)-4]) }},
		{"Encrypt", func() { k.Encrypt(enc, pt, 1, &iv) }},
		{"Seal", func() { k.Seal(enc, pt) }},
		{"Timestamp", func() { Timestamp(tok) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(50, tc.f); got != 0 {
				t.Errorf("%s: got %v allocations per call, want 0", tc.name, got)
			}
		})
	}
}
