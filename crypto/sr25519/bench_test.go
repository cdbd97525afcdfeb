package sr25519

import (
	"encoding/hex"
	"testing"
)

// benchCase is fiber_alice_to_bob from sr25519.json: a real Fiber header
// message signed by //Alice.
var benchCase = struct {
	pub  string
	msg  string
	sig  string
	wmsg string // bytes_wrapped_fiber: a signature over the <Bytes> wrapping
	wsig string
}{
	pub:  "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d",
	msg:  "1732550400123456789_HJrsIs7wtT:5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty:d0836bbd4663eaa148c9574c886acd1509b0fcab77a07f1998a75df405155da1",
	sig:  aliceSigHex,
	wmsg: "1732550404000000000_8xphpDjD2h:5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty:d92f660c49a1213820bddc323417becbe970a6d231d8cc98d53bd03c95ad1327",
	wsig: "0xe0256740cecae067cb7c0fe8ca62d7b3592a48556444872d9da62720723b5f1e444dd3b2e072a6b6ae89aa8727c6db5e8a1d4dd98e23d3b4fd3a5e3d61571e8d",
}

func benchInputs(b *testing.B) (pub [32]byte, msg []byte, sig [64]byte, wmsg []byte, wsig, bad [64]byte) {
	b.Helper()
	p, err := hex.DecodeString(benchCase.pub)
	if err != nil {
		b.Fatal(err)
	}
	if sig, err = ParseSignature([]byte(benchCase.sig)); err != nil {
		b.Fatal(err)
	}
	if wsig, err = ParseSignature([]byte(benchCase.wsig)); err != nil {
		b.Fatal(err)
	}
	bad = sig
	bad[40] ^= 0x08 // sig_bit_flipped_s: well-formed, wrong
	return [32]byte(p), []byte(benchCase.msg), sig, []byte(benchCase.wmsg), wsig, bad
}

// verifier is what both implementations offer, so one benchmark body serves
// both.
type verifier interface {
	strict(msg []byte, sig *[64]byte) bool
	full(msg []byte, sig *[64]byte) bool
}

type voiVerifier struct{ k *PublicKey }

func (v voiVerifier) strict(m []byte, s *[64]byte) bool { return v.k.VerifyStrict(m, s) }
func (v voiVerifier) full(m []byte, s *[64]byte) bool   { return v.k.Verify(m, s) }

// libVerifier is curve25519-voi's own PublicKey.Verify, without the
// precomputed table of the key, the way verification was done before.
type libVerifier struct{ k *PublicKey }

func (v libVerifier) strict(m []byte, s *[64]byte) bool { return v.k.verifyLibrary(m, s) }
func (v libVerifier) full(m []byte, s *[64]byte) bool {
	return v.k.verifyLibrary(m, s) || v.k.verifyLibrary([]byte(wrapOpen+string(m)+wrapClose), s)
}

type schnorrkelVerifier struct{ k *schnorrkelKey }

func (v schnorrkelVerifier) strict(m []byte, s *[64]byte) bool { return v.k.verifyStrict(m, s) }
func (v schnorrkelVerifier) full(m []byte, s *[64]byte) bool   { return v.k.verify(m, s) }

func BenchmarkVerify(b *testing.B) {
	pub, msg, sig, wmsg, wsig, bad := benchInputs(b)
	impls := []struct {
		name string
		dec  func([32]byte) (verifier, error)
	}{
		{"voi", func(p [32]byte) (verifier, error) {
			k, err := NewPublicKey(p)
			return voiVerifier{k}, err
		}},
		{"voi-library", func(p [32]byte) (verifier, error) {
			k, err := NewPublicKey(p)
			return libVerifier{k}, err
		}},
		{"schnorrkel", func(p [32]byte) (verifier, error) {
			k, err := newSchnorrkelKey(p)
			return schnorrkelVerifier{k}, err
		}},
	}
	for _, impl := range impls {
		b.Run(impl.name, func(b *testing.B) {
			v, err := impl.dec(pub)
			if err != nil {
				b.Fatal(err)
			}
			b.Run("decoded", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if !v.strict(msg, &sig) {
						b.Fatal("rejected")
					}
				}
			})
			b.Run("with-decoding", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					v, err := impl.dec(pub)
					if err != nil || !v.strict(msg, &sig) {
						b.Fatal("rejected")
					}
				}
			})
			// Verify on a signature over the <Bytes> wrapping: the plain
			// check fails, the retry passes.
			b.Run("wrapped-fallback", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if !v.full(wmsg, &wsig) {
						b.Fatal("rejected")
					}
				}
			})
			// Verify on a well-formed but wrong signature: two full
			// verifications, the cost of every forged request.
			b.Run("invalid", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if v.full(msg, &bad) {
						b.Fatal("accepted")
					}
				}
			})
		})
	}
}

func BenchmarkNewPublicKey(b *testing.B) {
	pub, _, _, _, _, _ := benchInputs(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewPublicKey(pub); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSignature(b *testing.B) {
	in := []byte(benchCase.sig)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseSignature(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	kp, err := KeypairFromSeed([32]byte{1})
	if err != nil {
		b.Fatal(err)
	}
	msg := []byte(benchCase.msg)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kp.Sign(msg, nil); err != nil {
			b.Fatal(err)
		}
	}
}
