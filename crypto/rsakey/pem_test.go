package rsakey_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/fibergate/fibergate/crypto/rsakey"
)

func TestVectorKeys(t *testing.T) {
	v := loadVectors(t)
	for _, vk := range v.Keys {
		t.Run(vk.Label, func(t *testing.T) {
			k, err := rsakey.ParsePrivatePEM([]byte(vk.PrivatePEM))
			if err != nil {
				t.Fatalf("key %s: ParsePrivatePEM: %v", vk.Label, err)
			}
			n, _ := new(big.Int).SetString(vk.NHex, 16)
			if k.N.Cmp(n) != 0 || k.E != vk.E || k.N.BitLen() != vk.Bits {
				t.Errorf("key %s: got %d-bit N %x, e %d; want %d-bit %s, e %d", vk.Label, k.N.BitLen(), k.N, k.E, vk.Bits, vk.NHex, vk.E)
			}
			pub, err := rsakey.PublicPEM(&k.PublicKey)
			if err != nil || string(pub) != vk.PublicPEM {
				t.Errorf("key %s: PublicPEM = %v\n%s\nwant public_key_spki_pem\n%s", vk.Label, err, pub, vk.PublicPEM)
			}
			parsed, err := rsakey.ParsePublicPEM([]byte(vk.PublicPEM))
			if err != nil || !parsed.Equal(&k.PublicKey) {
				t.Errorf("key %s: ParsePublicPEM(public_key_spki_pem) = %v; want the private key's public half", vk.Label, err)
			}
			// Go's PKCS#8 encoding is the one Python's cryptography writes.
			priv, err := rsakey.MarshalPrivatePEM(k)
			if err != nil || string(priv) != vk.PrivatePEM {
				t.Errorf("key %s: MarshalPrivatePEM = %v\n%s\nwant private_key_pkcs8_pem\n%s", vk.Label, err, priv, vk.PrivatePEM)
			}
		})
	}
}

func TestParsePrivatePEMPKCS1(t *testing.T) {
	v := loadVectors(t)
	k := vectorKeys(t, v)["rsa2048"]
	b := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	got, err := rsakey.ParsePrivatePEM(b)
	if err != nil {
		t.Fatalf("ParsePrivatePEM(PKCS#1): %v", err)
	}
	if !got.Equal(k) {
		t.Fatal("PKCS#1 key differs from the PKCS#8 original")
	}
	// It must also work, precomputed, for decryption.
	ct, err := rsakey.EncryptSymmetricKey(&k.PublicKey, [32]byte{7}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key, err := rsakey.DecryptSymmetricKey(got, ct); err != nil || key != [32]byte{7} {
		t.Errorf("DecryptSymmetricKey with the PKCS#1-loaded key = %x, %v", key, err)
	}
}

func TestParsePrivatePEMSurroundingText(t *testing.T) {
	v := loadVectors(t)
	want := vectorKeys(t, v)["rsa2048"]
	in := "Bag Attributes\n    friendlyName: miner\n" + v.Keys[0].PrivatePEM + "\n# trailing comment\n"
	got, err := rsakey.ParsePrivatePEM([]byte(in))
	if err != nil || !got.Equal(want) {
		t.Errorf("ParsePrivatePEM with text around the block: %v", err)
	}
}

func pemOf(typ string, der []byte, headers map[string]string) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Headers: headers, Bytes: der}))
}

func TestParsePrivatePEMErrors(t *testing.T) {
	v := loadVectors(t)
	keys := vectorKeys(t, v)
	k := keys["rsa2048"]
	pkcs8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := x509.MarshalPKCS1PrivateKey(k)
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edPKCS8, _ := x509.MarshalPKCS8PrivateKey(edPriv)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecPKCS8, _ := x509.MarshalPKCS8PrivateKey(ecPriv)
	ecSEC1, _ := x509.MarshalECPrivateKey(ecPriv)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallPKCS8, _ := x509.MarshalPKCS8PrivateKey(small)
	spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	// A key whose private exponent does not match its primes.
	bad := *k
	bad.D = new(big.Int).Add(k.D, big.NewInt(2))
	bad.Precomputed = rsa.PrecomputedValues{}
	badPKCS1 := x509.MarshalPKCS1PrivateKey(&bad)

	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", rsakey.ErrNoPEM},
		{"not PEM", "hello", rsakey.ErrNoPEM},
		{"raw DER", string(pkcs8), rsakey.ErrNoPEM},
		{"unterminated block", strings.TrimSuffix(v.Keys[0].PrivatePEM, "-----END PRIVATE KEY-----\n"), rsakey.ErrNoPEM},
		{"encrypted PKCS#8", pemOf("ENCRYPTED PRIVATE KEY", []byte{0x30, 0}, nil), rsakey.ErrEncrypted},
		{"legacy encrypted PKCS#1", pemOf("RSA PRIVATE KEY", pkcs1, map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00112233445566778899AABBCCDDEEFF"}), rsakey.ErrEncrypted},
		{"public key", pemOf("PUBLIC KEY", spki, nil), rsakey.ErrKeyType},
		{"certificate", pemOf("CERTIFICATE", []byte{0x30, 0}, nil), rsakey.ErrKeyType},
		{"EC private key", pemOf("EC PRIVATE KEY", ecSEC1, nil), rsakey.ErrKeyType},
		{"ed25519 PKCS#8", pemOf("PRIVATE KEY", edPKCS8, nil), rsakey.ErrKeyType},
		{"ECDSA PKCS#8", pemOf("PRIVATE KEY", ecPKCS8, nil), rsakey.ErrKeyType},
		{"two keys", v.Keys[0].PrivatePEM + v.Keys[1].PrivatePEM, rsakey.ErrKeyType},
		{"PKCS#1 bytes labelled PKCS#8", pemOf("PRIVATE KEY", pkcs1, nil), rsakey.ErrInvalidKey},
		{"PKCS#8 bytes labelled PKCS#1", pemOf("RSA PRIVATE KEY", pkcs8, nil), rsakey.ErrInvalidKey},
		{"garbage DER", pemOf("PRIVATE KEY", []byte("not DER at all"), nil), rsakey.ErrInvalidKey},
		{"truncated DER", pemOf("PRIVATE KEY", pkcs8[:len(pkcs8)-10], nil), rsakey.ErrInvalidKey},
		{"inconsistent key", pemOf("RSA PRIVATE KEY", badPKCS1, nil), rsakey.ErrInvalidKey},
		{"1024 bits", pemOf("PRIVATE KEY", smallPKCS8, nil), rsakey.ErrKeySize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rsakey.ParsePrivatePEM([]byte(tt.in))
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("got %v, %v; want nil, %v", got != nil, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "parsing RSA private key: ") {
				t.Errorf("error %q does not name the operation", err)
			}
		})
	}
}

func TestParsePublicPEMErrors(t *testing.T) {
	v := loadVectors(t)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	edSPKI, _ := x509.MarshalPKIXPublicKey(edPub)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallSPKI, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	pkcs1Pub := x509.MarshalPKCS1PublicKey(&vectorKeys(t, v)["rsa2048"].PublicKey)
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", rsakey.ErrNoPEM},
		{"private key", v.Keys[0].PrivatePEM, rsakey.ErrKeyType},
		{"PKCS#1 public key", pemOf("RSA PUBLIC KEY", pkcs1Pub, nil), rsakey.ErrKeyType},
		{"ed25519", pemOf("PUBLIC KEY", edSPKI, nil), rsakey.ErrKeyType},
		{"two keys", v.Keys[0].PublicPEM + v.Keys[1].PublicPEM, rsakey.ErrKeyType},
		{"garbage DER", pemOf("PUBLIC KEY", []byte{1, 2, 3}, nil), rsakey.ErrInvalidKey},
		{"PKCS#1 bytes labelled SPKI", pemOf("PUBLIC KEY", pkcs1Pub, nil), rsakey.ErrInvalidKey},
		{"1024 bits", pemOf("PUBLIC KEY", smallSPKI, nil), rsakey.ErrKeySize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rsakey.ParsePublicPEM([]byte(tt.in))
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("got %v, %v; want nil, %v", got, err, tt.want)
			}
		})
	}
}

func TestMarshalNil(t *testing.T) {
	if b, err := rsakey.MarshalPrivatePEM(nil); !errors.Is(err, rsakey.ErrInvalidKey) || b != nil {
		t.Errorf("MarshalPrivatePEM(nil) = %q, %v; want nil, ErrInvalidKey", b, err)
	}
	if b, err := rsakey.PublicPEM(nil); !errors.Is(err, rsakey.ErrInvalidKey) || b != nil {
		t.Errorf("PublicPEM(nil) = %q, %v; want nil, ErrInvalidKey", b, err)
	}
	if b, err := rsakey.PublicPEM(&rsa.PublicKey{E: 3}); !errors.Is(err, rsakey.ErrInvalidKey) || b != nil {
		t.Errorf("PublicPEM(no modulus) = %q, %v; want nil, ErrInvalidKey", b, err)
	}
}
