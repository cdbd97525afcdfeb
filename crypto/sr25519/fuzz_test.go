package sr25519

import (
	"encoding/hex"
	"errors"
	"testing"
)

func FuzzParseSignature(f *testing.F) {
	for _, s := range []string{aliceSigHex, aliceSigHex[2:], aliceSigHex + "0", "", "0x", "0X" + aliceSigHex[2:]} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		sig, err := ParseSignature(in)
		ref, refErr := hex.DecodeString(string(in[min(2, len(in)):]))
		want := len(in) == 130 && in[0] == '0' && in[1] == 'x' && refErr == nil
		if (err == nil) != want {
			t.Fatalf("ParseSignature(%q): got error %v, want accepted=%v", in, err, want)
		}
		if err != nil {
			if !errors.Is(err, ErrSignatureFormat) {
				t.Fatalf("ParseSignature(%q): error %v is not %v", in, err, ErrSignatureFormat)
			}
			return
		}
		if string(sig[:]) != string(ref) {
			t.Fatalf("ParseSignature(%q): got %x, want %x", in, sig, ref)
		}
	})
}

func FuzzVerify(f *testing.F) {
	sig, _ := hex.DecodeString(aliceSigHex[2:])
	alice, _ := hex.DecodeString("d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
	msg := []byte("1732550400123456789_HJrsIs7wtT:5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty:d0836bbd4663eaa148c9574c886acd1509b0fcab77a07f1998a75df405155da1")
	f.Add(alice, sig, msg)
	f.Add(alice, sig, msg[1:])
	f.Add(make([]byte, 32), make([]byte, 64), []byte{})
	f.Add([]byte{0xff}, []byte{0x80}, []byte("<Bytes>"))
	f.Fuzz(func(t *testing.T, pub, sigBytes, msg []byte) {
		var p [32]byte
		var s [64]byte
		copy(p[:], pub)
		copy(s[:], sigBytes)
		key, err := NewPublicKey(p)
		base, baseErr := newSchnorrkelKey(p)
		if (err == nil) != (baseErr == nil) {
			t.Fatalf("key %x: NewPublicKey error %v, go-schnorrkel error %v", p, err, baseErr)
		}
		if err != nil {
			return
		}
		strict := key.VerifyStrict(msg, &s)
		plain := key.Verify(msg, &s)
		if lib := key.verifyLibrary(msg, &s); lib != strict {
			t.Fatalf("key %x sig %x msg %q: the precomputed-table check says %v, curve25519-voi's Verify %v", p, s, msg, strict, lib)
		}
		if strict && !plain {
			t.Fatalf("key %x sig %x: VerifyStrict true but Verify false", p, s)
		}
		if strict != base.verifyStrict(msg, &s) || plain != base.verify(msg, &s) {
			t.Fatalf("key %x sig %x msg %q: voi (%v, %v) and go-schnorrkel disagree", p, s, msg, strict, plain)
		}
	})
}
