package fernet

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"

	fernetgo "github.com/fernet/fernet-go"
)

var benchSizes = []struct {
	name string
	n    int
}{
	{"256B", 256},
	{"4KiB", 4 << 10},
	{"64KiB", 64 << 10},
	{"1MiB", 1 << 20},
}

func benchKey(b *testing.B) (*Key, []*fernetgo.Key) {
	k := mustParseKey(b, testKeyText)
	return k, []*fernetgo.Key{goKey(k)}
}

func BenchmarkDecrypt(b *testing.B) {
	k, gk := benchKey(b)
	for _, impl := range []string{"lean", "fernet-go"} {
		for _, sz := range benchSizes {
			pt := make([]byte, sz.n)
			rand.Read(pt)
			tok, _ := k.Seal(nil, pt)
			b.Run(impl+"/"+sz.name, func(b *testing.B) {
				b.SetBytes(int64(sz.n))
				b.ReportAllocs()
				switch impl {
				case "lean":
					buf := make([]byte, 0, MaxDecodedLen(len(tok)))
					for b.Loop() {
						if _, _, err := k.Decrypt(buf, tok); err != nil {
							b.Fatal(err)
						}
					}
				case "fernet-go":
					for b.Loop() {
						if fernetgo.VerifyAndDecrypt(tok, 0, gk) == nil {
							b.Fatal("refused")
						}
					}
				}
			})
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	k, gk := benchKey(b)
	for _, impl := range []string{"lean", "fernet-go"} {
		for _, sz := range benchSizes {
			pt := make([]byte, sz.n)
			b.Run(impl+"/"+sz.name, func(b *testing.B) {
				b.SetBytes(int64(sz.n))
				b.ReportAllocs()
				switch impl {
				case "lean":
					buf := make([]byte, 0, EncodedLen(sz.n))
					for b.Loop() {
						if _, err := k.Seal(buf, pt); err != nil {
							b.Fatal(err)
						}
					}
				case "fernet-go":
					for b.Loop() {
						if _, err := fernetgo.EncryptAndSignAtTime(pt, gk[0], time.Now()); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}

// BenchmarkFloor measures the primitives a decryption cannot avoid, with
// every buffer and the HMAC prepared outside the loop: base64 decoding,
// HMAC-SHA256 over the token and AES-128-CBC over the ciphertext.
func BenchmarkFloor(b *testing.B) {
	k := mustParseKey(b, testKeyText)
	raw := k.Raw()
	block, _ := aes.NewCipher(raw[16:])
	for _, sz := range benchSizes {
		pt := make([]byte, sz.n)
		tok, _ := k.Seal(nil, pt)
		b.Run(sz.name, func(b *testing.B) {
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			dec := make([]byte, MaxDecodedLen(len(tok)))
			var sum [32]byte
			m := hmac.New(sha256.New, raw[:16])
			// A decrypter made once and re-keyed with SetIV, so the loop
			// measures CBC alone.
			cbc := cipher.NewCBCDecrypter(block, make([]byte, 16))
			setIV, canSet := cbc.(interface{ SetIV([]byte) })
			for b.Loop() {
				n, _ := base64.URLEncoding.Decode(dec, tok)
				m.Reset()
				m.Write(dec[:n-32])
				m.Sum(sum[:0])
				ct := dec[25 : n-32]
				if canSet {
					setIV.SetIV(dec[9:25])
					cbc.CryptBlocks(ct, ct)
				} else {
					cipher.NewCBCDecrypter(block, dec[9:25]).CryptBlocks(ct, ct)
				}
			}
		})
	}
}
