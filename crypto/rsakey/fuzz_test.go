package rsakey_test

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/fibergate/fibergate/crypto/rsakey"
)

// FuzzDecryptSymmetricKey feeds arbitrary ciphertexts to the 2048-bit
// vector key: no panic, ErrDecrypt with a zero key on failure, and success
// only for an exact-length OAEP-SHA256 ciphertext of a 32-byte key.
func FuzzDecryptSymmetricKey(f *testing.F) {
	v := loadVectors(f)
	priv := vectorKeys(f, v)["rsa2048"]
	for _, c := range v.Cases {
		if c.Key == "rsa2048" {
			f.Add(mustHex(f, c.CiphertextHex))
		}
	}
	f.Add([]byte{})
	f.Add(make([]byte, 256))
	f.Fuzz(func(t *testing.T, ct []byte) {
		key, err := rsakey.DecryptSymmetricKey(priv, ct)
		if err != nil {
			if err != rsakey.ErrDecrypt || key != [32]byte{} {
				t.Fatalf("got %x, %v; a failure must be a zero key and ErrDecrypt", key, err)
			}
			return
		}
		if len(ct) != priv.Size() {
			t.Fatalf("accepted a %d-byte ciphertext", len(ct))
		}
		pt, err := rsa.DecryptOAEP(sha256.New(), nil, priv, ct, nil)
		if err != nil || !bytes.Equal(pt, key[:]) {
			t.Fatalf("returned %x, but OAEP-SHA256 gives %x, %v", key, pt, err)
		}
	})
}

// FuzzParsePrivatePEM: no panic; a key comes back only with a nil error,
// and then it is a valid RSA key of an allowed size.
func FuzzParsePrivatePEM(f *testing.F) {
	v := loadVectors(f)
	for _, k := range v.Keys[:2] {
		f.Add([]byte(k.PrivatePEM))
		f.Add([]byte(k.PublicPEM))
	}
	k := vectorKeys(f, v)["rsa2048"]
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, in []byte) {
		k, err := rsakey.ParsePrivatePEM(in)
		if err != nil {
			if k != nil {
				t.Fatalf("returned a key with error %v", err)
			}
			return
		}
		if k == nil {
			t.Fatal("nil key with nil error")
		}
		if n := k.N.BitLen(); n < rsakey.MinBits || n > rsakey.MaxBits {
			t.Fatalf("accepted a %d-bit key", n)
		}
		if err := k.Validate(); err != nil {
			t.Fatalf("accepted an invalid key: %v", err)
		}
	})
}
