package signature

import (
	"crypto/ed25519"
	"testing"
)

// FuzzVerify checks that dispatching on the marker bit changes no verdict:
// Verify agrees with trying every enabled scheme on every signature.
func FuzzVerify(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	msg := []byte("Hello, Bittensor!")
	f.Add([]byte(priv.Public().(ed25519.PublicKey)), ed25519.Sign(priv, msg), msg, true)
	f.Add([]byte(priv.Public().(ed25519.PublicKey)), ed25519.Sign(priv, []byte("<Bytes>"+string(msg)+"</Bytes>")), msg, true)
	f.Add(make([]byte, 32), make([]byte, 64), []byte{}, false)
	f.Fuzz(func(t *testing.T, pub, sigBytes, msg []byte, allowEd bool) {
		var p [32]byte
		var s [64]byte
		copy(p[:], pub)
		copy(s[:], sigBytes)
		v, err := NewVerifier(p, Options{AllowEd25519: allowEd})
		if err != nil {
			return
		}
		got := v.Verify(msg, &s)
		want := v.sr != nil && v.sr.Verify(msg, &s)
		if v.ed != nil {
			want = want || ed25519.Verify(v.ed, msg, s[:]) ||
				ed25519.Verify(v.ed, []byte(wrapOpen+string(msg)+wrapClose), s[:])
		}
		if got != want {
			t.Fatalf("key %x sig %x msg %q: Verify got %v, trying every scheme gives %v", p, s, msg, got, want)
		}
	})
}
