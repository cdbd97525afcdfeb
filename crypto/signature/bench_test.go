package signature

import (
	"crypto/ed25519"
	"encoding/hex"
	"testing"

	"github.com/fibergate/fibergate/crypto/sr25519"
)

func BenchmarkVerifier(b *testing.B) {
	msg := []byte("1732550400123456789_HJrsIs7wtT:5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty:d0836bbd4663eaa148c9574c886acd1509b0fcab77a07f1998a75df405155da1")
	pub, _ := hex.DecodeString("d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
	srSig, err := sr25519.ParseSignature([]byte("0x9a2ec66eddb898b8342f509914f220da4690db423611e5b7f88eeb3d99a67647997e013be73ed703b43cb90fee463c53a4dc0f15e5bc3a0d330bc88d03f3bc8f"))
	if err != nil {
		b.Fatal(err)
	}
	srVer, err := NewVerifier([32]byte(pub), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("sr25519", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !srVer.Verify(msg, &srSig) {
				b.Fatal("rejected")
			}
		}
	})

	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	edVer, err := NewVerifier([32]byte(priv.Public().(ed25519.PublicKey)), Options{AllowEd25519: true})
	if err != nil {
		b.Fatal(err)
	}
	edSig := [64]byte(ed25519.Sign(priv, msg))
	edWrapped := [64]byte(ed25519.Sign(priv, []byte(wrapOpen+string(msg)+wrapClose)))
	b.Run("ed25519", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !edVer.Verify(msg, &edSig) {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("ed25519-wrapped-fallback", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !edVer.Verify(msg, &edWrapped) {
				b.Fatal("rejected")
			}
		}
	})
}
