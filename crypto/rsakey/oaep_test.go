package rsakey_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/internal/testvectors"
)

// stricterCases are valid OAEP-SHA256 ciphertexts whose plaintext is not 32
// bytes. Python's cryptography decrypts them, and Fiber's server then fails
// on the key length with a 500; DecryptSymmetricKey refuses them outright.
var stricterCases = map[string]bool{
	"empty":    true, // 0-byte plaintext
	"one_byte": true, // 1-byte plaintext
	"max_190":  true, // 190 bytes, the OAEP maximum for 2048 bits
}

func TestDecryptSymmetricKeyVectors(t *testing.T) {
	v := loadVectors(t)
	keys := vectorKeys(t, v)
	for _, c := range v.Cases {
		t.Run(c.ID, func(t *testing.T) {
			priv, ok := keys[c.Key]
			if !ok {
				t.Fatalf("case %s (%s): no key %q in the vectors", c.ID, c.Note, c.Key)
			}
			ct := mustHex(t, c.CiphertextHex)
			if b64, err := base64.StdEncoding.DecodeString(c.CiphertextB64); err != nil || !bytes.Equal(b64, ct) || len(ct) != c.Length {
				t.Fatalf("case %s (%s): ciphertext_b64/hex/length disagree in the vectors", c.ID, c.Note)
			}
			got, err := rsakey.DecryptSymmetricKey(priv, ct)

			if !c.Valid {
				if err != rsakey.ErrDecrypt || got != [32]byte{} {
					t.Fatalf("case %s (%s): got %x, %v; want zero key, ErrDecrypt", c.ID, c.Note, got, err)
				}
				return
			}
			want := mustHex(t, *c.PlaintextHex)
			// The plaintext the vectors give is what OAEP-SHA256 yields
			// for this exact-length ciphertext.
			pt, perr := rsa.DecryptOAEP(sha256.New(), nil, priv, ct, nil)
			if perr != nil || !bytes.Equal(pt, want) {
				t.Fatalf("case %s (%s): OAEP-SHA256 gives %x, %v; want plaintext_hex %x", c.ID, c.Note, pt, perr, want)
			}
			if len(want) != rsakey.SymmetricKeySize {
				if !stricterCases[c.ID] {
					t.Fatalf("case %s (%s): valid %d-byte plaintext not listed in stricterCases", c.ID, c.Note, len(want))
				}
				if err != rsakey.ErrDecrypt || got != [32]byte{} {
					t.Fatalf("case %s (%s): got %x, %v; want zero key, ErrDecrypt (stricter: plaintext is %d bytes, not 32)", c.ID, c.Note, got, err, len(want))
				}
				return
			}
			if stricterCases[c.ID] {
				t.Fatalf("case %s (%s): listed in stricterCases but has a 32-byte plaintext", c.ID, c.Note)
			}
			if err != nil || !bytes.Equal(got[:], want) {
				t.Fatalf("case %s (%s): got %x, %v; want %x, nil", c.ID, c.Note, got, err, want)
			}
			if c.FernetKey == nil || base64.URLEncoding.EncodeToString(got[:]) != *c.FernetKey {
				t.Errorf("case %s (%s): Fernet key %s, want %v", c.ID, c.Note, base64.URLEncoding.EncodeToString(got[:]), c.FernetKey)
			}
		})
	}
	// Every listed stricter case must exist, so the list cannot go stale.
	seen := map[string]bool{}
	for _, c := range v.Cases {
		seen[c.ID] = true
	}
	for id := range stricterCases {
		if !seen[id] {
			t.Errorf("stricterCases lists %q, which is not in rsa_oaep.json", id)
		}
	}
}

type transcript struct {
	PrivatePEM   string `json:"rsa_private_key_pem"`
	PublicPEM    string `json:"rsa_public_key_pem"`
	SymmetricKey struct {
		RawHex    string `json:"raw_hex"`
		FernetB64 string `json:"fernet_key_b64url"`
	} `json:"symmetric_key"`
	Exchanges []struct {
		Name    string `json:"name"`
		Request struct {
			Path     string `json:"path"`
			BodyText string `json:"body_text"`
		} `json:"request"`
		Response struct {
			Status   int    `json:"status"`
			BodyText string `json:"body_text"`
		} `json:"response"`
	} `json:"exchanges"`
}

// TestTranscript replays the handshake a real Fiber 2.1 validator made
// against the Fiber miner: the served public key and the key unwrap must
// match byte for byte.
func TestTranscript(t *testing.T) {
	var tr transcript
	testvectors.Load(t, "transcript-fiber-2.1.json", &tr)
	priv, err := rsakey.ParsePrivatePEM([]byte(tr.PrivatePEM))
	if err != nil {
		t.Fatalf("ParsePrivatePEM(rsa_private_key_pem): %v", err)
	}
	pub, err := rsakey.PublicPEM(&priv.PublicKey)
	if err != nil {
		t.Fatalf("PublicPEM: %v", err)
	}
	if string(pub) != tr.PublicPEM {
		t.Errorf("PublicPEM:\n%s\nwant rsa_public_key_pem:\n%s", pub, tr.PublicPEM)
	}

	var served, exchanged bool
	for _, ex := range tr.Exchanges {
		switch ex.Request.Path {
		case "/public-encryption-key":
			var body struct {
				PublicKey string `json:"public_key"`
			}
			if err := json.Unmarshal([]byte(ex.Response.BodyText), &body); err != nil {
				t.Fatalf("exchange %s: response body: %v", ex.Name, err)
			}
			if string(pub) != body.PublicKey {
				t.Errorf("exchange %s: PublicPEM:\n%q\nwant the served key:\n%q", ex.Name, pub, body.PublicKey)
			}
			served = true
		case "/exchange-symmetric-key":
			var body struct {
				EncryptedSymmetricKey string `json:"encrypted_symmetric_key"`
			}
			if err := json.Unmarshal([]byte(ex.Request.BodyText), &body); err != nil {
				t.Fatalf("exchange %s: request body: %v", ex.Name, err)
			}
			ct, err := base64.StdEncoding.DecodeString(body.EncryptedSymmetricKey)
			if err != nil {
				t.Fatalf("exchange %s: encrypted_symmetric_key is not standard base64: %v", ex.Name, err)
			}
			got, err := rsakey.DecryptSymmetricKey(priv, ct)
			if want := mustHex(t, tr.SymmetricKey.RawHex); err != nil || !bytes.Equal(got[:], want) {
				t.Errorf("exchange %s: DecryptSymmetricKey = %x, %v; want %x", ex.Name, got, err, want)
			}
			if fk := base64.URLEncoding.EncodeToString(got[:]); fk != tr.SymmetricKey.FernetB64 {
				t.Errorf("exchange %s: Fernet key %s, want %s", ex.Name, fk, tr.SymmetricKey.FernetB64)
			}
			exchanged = true
		}
	}
	if !served || !exchanged {
		t.Errorf("transcript lacks an exchange: public key served %v, symmetric key exchanged %v", served, exchanged)
	}
}

func TestEncryptSymmetricKeyRoundTrip(t *testing.T) {
	v := loadVectors(t)
	keys := vectorKeys(t, v)
	for _, label := range []string{"rsa2048", "rsa3072", "rsa4096"} {
		t.Run(label, func(t *testing.T) {
			priv := keys[label]
			var key [32]byte
			rand.Read(key[:])
			ct1, err := rsakey.EncryptSymmetricKey(&priv.PublicKey, key, nil)
			if err != nil {
				t.Fatalf("EncryptSymmetricKey: %v", err)
			}
			if len(ct1) != priv.Size() {
				t.Errorf("ciphertext is %d bytes, want %d", len(ct1), priv.Size())
			}
			ct2, err := rsakey.EncryptSymmetricKey(&priv.PublicKey, key, rand.Reader)
			if err != nil {
				t.Fatalf("EncryptSymmetricKey: %v", err)
			}
			if bytes.Equal(ct1, ct2) {
				t.Error("two encryptions of one key are equal; OAEP must be randomised")
			}
			for i, ct := range [][]byte{ct1, ct2} {
				got, err := rsakey.DecryptSymmetricKey(priv, ct)
				if err != nil || got != key {
					t.Errorf("ciphertext %d: DecryptSymmetricKey = %x, %v; want %x", i, got, err, key)
				}
			}
			// Another key of the same size cannot unwrap it.
			if label == "rsa2048" {
				if got, err := rsakey.DecryptSymmetricKey(keys["rsa2048_other"], ct1); err != rsakey.ErrDecrypt {
					t.Errorf("decrypting with another key = %x, %v; want ErrDecrypt", got, err)
				}
			}
		})
	}
}

func TestDecryptSymmetricKeyRefuses(t *testing.T) {
	v := loadVectors(t)
	keys := vectorKeys(t, v)
	priv := keys["rsa2048"]
	var key [32]byte
	ct, err := rsakey.EncryptSymmetricKey(&priv.PublicKey, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		priv *rsa.PrivateKey
		ct   []byte
	}{
		{"nil key", nil, ct},
		{"key without modulus", &rsa.PrivateKey{}, ct},
		{"nil ciphertext", priv, nil},
		{"empty ciphertext", priv, []byte{}},
		{"one byte short", priv, ct[1:]},
		{"one byte long", priv, append([]byte{0}, ct...)},
		{"3072-bit key, 2048-bit ciphertext", keys["rsa3072"], ct},
		{"all zero", priv, make([]byte, len(ct))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rsakey.DecryptSymmetricKey(tt.priv, tt.ct)
			if err != rsakey.ErrDecrypt || got != [32]byte{} {
				t.Errorf("got %x, %v; want zero key, ErrDecrypt", got, err)
			}
		})
	}
}

func TestEncryptSymmetricKeyRefuses(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pub  *rsa.PublicKey
		want error
	}{
		{"nil key", nil, rsakey.ErrInvalidKey},
		{"no modulus", &rsa.PublicKey{E: 65537}, rsakey.ErrInvalidKey},
		{"1024 bits", &small.PublicKey, rsakey.ErrKeySize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, err := rsakey.EncryptSymmetricKey(tt.pub, [32]byte{1}, nil)
			if !errors.Is(err, tt.want) || ct != nil {
				t.Errorf("got %d bytes, %v; want nil, %v", len(ct), err, tt.want)
			}
		})
	}
}
