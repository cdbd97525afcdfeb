package rsakey_test

import (
	"crypto/rsa"
	"encoding/hex"
	"testing"

	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/internal/testvectors"
)

type vectorKey struct {
	Label      string `json:"label"`
	Bits       int    `json:"bits"`
	PrivatePEM string `json:"private_key_pkcs8_pem"`
	PublicPEM  string `json:"public_key_spki_pem"`
	NHex       string `json:"n_hex"`
	E          int    `json:"e"`
}

type vectorCase struct {
	ID            string  `json:"id"`
	Key           string  `json:"key"`
	CiphertextHex string  `json:"ciphertext_hex"`
	CiphertextB64 string  `json:"ciphertext_b64"`
	Length        int     `json:"ciphertext_length"`
	PlaintextHex  *string `json:"plaintext_hex"`
	FernetKey     *string `json:"fernet_key"`
	Valid         bool    `json:"valid"`
	Note          string  `json:"note"`
}

type vectorFile struct {
	Keys  []vectorKey  `json:"keys"`
	Cases []vectorCase `json:"cases"`
}

func loadVectors(t testing.TB) vectorFile {
	t.Helper()
	var v vectorFile
	testvectors.Load(t, "rsa_oaep.json", &v)
	if len(v.Keys) == 0 || len(v.Cases) == 0 {
		t.Fatal("rsa_oaep.json holds no keys or no cases")
	}
	return v
}

// vectorKeys parses every key of the vector file, by label.
func vectorKeys(t testing.TB, v vectorFile) map[string]*rsa.PrivateKey {
	t.Helper()
	keys := map[string]*rsa.PrivateKey{}
	for _, k := range v.Keys {
		priv, err := rsakey.ParsePrivatePEM([]byte(k.PrivatePEM))
		if err != nil {
			t.Fatalf("key %s: ParsePrivatePEM: %v", k.Label, err)
		}
		keys[k.Label] = priv
	}
	return keys
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in vectors: %v", err)
	}
	return b
}
