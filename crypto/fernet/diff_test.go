package fernet

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	fernetgo "github.com/fernet/fernet-go"
)

// goKey returns k as a fernet-go key.
func goKey(k *Key) *fernetgo.Key {
	gk := fernetgo.Key(k.Raw())
	return &gk
}

// goDecrypt runs fernet-go's decryption without a time limit, turning its
// known panics (tokens with a correct HMAC but no room for an IV or a
// ciphertext block) into a rejection.
func goDecrypt(k *Key, tok []byte) (pt []byte, panicked bool) {
	defer func() {
		if recover() != nil {
			pt, panicked = nil, true
		}
	}()
	return fernetgo.VerifyAndDecrypt(tok, 0, []*fernetgo.Key{goKey(k)}), false
}

var diffSizes = []int{0, 1, 15, 16, 17, 31, 32, 33, 255, 256, 1000, 4096, 65536 + 3}

func TestOursDecryptsFernetGo(t *testing.T) {
	k := mustParseKey(t, testKeyText)
	for _, n := range diffSizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			pt := make([]byte, n)
			rand.Read(pt)
			signed := time.Unix(1732550400, 0)
			tok, err := fernetgo.EncryptAndSignAtTime(pt, goKey(k), signed)
			if err != nil {
				t.Fatal(err)
			}
			got, created, err := k.Decrypt(nil, tok)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("Decrypt of fernet-go token (%d bytes): got %d bytes, %v; want the plaintext", n, len(got), err)
			}
			if created != signed.Unix() {
				t.Errorf("got created %d, want %d", created, signed.Unix())
			}
		})
	}
}

func TestFernetGoDecryptsOurs(t *testing.T) {
	k := mustParseKey(t, testKeyText)
	for _, n := range diffSizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			pt := make([]byte, n)
			rand.Read(pt)
			tok, err := k.Seal(nil, pt)
			if err != nil {
				t.Fatal(err)
			}
			got, panicked := goDecrypt(k, tok)
			if panicked || got == nil || !bytes.Equal(got, pt) {
				t.Fatalf("fernet-go on our token (%d bytes): got %d bytes (panicked %v), want the plaintext", n, len(got), panicked)
			}
			// With a ttl fernet-go also checks our timestamp.
			if got := fernetgo.VerifyAndDecrypt(tok, time.Minute, []*fernetgo.Key{goKey(k)}); !bytes.Equal(got, pt) {
				t.Errorf("fernet-go with a 1 min ttl refused a fresh token")
			}
		})
	}
}

// TestFernetGoPanicsGuarded pins the shapes fernet-go crashes on (see
// PROTOCOL.md): Decrypt must refuse them calmly.
func TestFernetGoPanicsGuarded(t *testing.T) {
	for _, c := range loadCases(t) {
		if c.ID != "no_ciphertext_valid_hmac" && c.ID != "too_short_valid_hmac" {
			continue
		}
		t.Run(c.ID, func(t *testing.T) {
			k := mustParseKey(t, c.Key)
			if _, _, err := k.Decrypt(nil, []byte(c.Token)); err != ErrInvalidToken {
				t.Errorf("case %s (%s): got %v, want ErrInvalidToken", c.ID, c.Note, err)
			}
			if _, panicked := goDecrypt(k, []byte(c.Token)); !panicked {
				t.Logf("case %s: fernet-go no longer panics", c.ID)
			}
		})
	}
}
