package fernet

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"testing"

	"github.com/fibergate/fibergate/internal/testvectors"
)

// refDecrypt is a plain reading of the format with the same strictness as
// Decrypt, written with the standard library's CBC mode, for fuzzing
// against.
func refDecrypt(k *Key, tok []byte) ([]byte, bool) {
	if bytes.ContainsAny(tok, "\r\n") {
		return nil, false
	}
	raw, err := base64.URLEncoding.Strict().DecodeString(string(tok))
	if err != nil || len(raw) < 57+16 || raw[0] != 0x80 || (len(raw)-57)%16 != 0 {
		return nil, false
	}
	body, mac := raw[:len(raw)-32], raw[len(raw)-32:]
	if !bytes.Equal(signRaw(k, body)[len(body):], mac) {
		return nil, false
	}
	key := k.Raw()
	block, _ := aes.NewCipher(key[16:])
	pt := make([]byte, len(body)-25)
	cipher.NewCBCDecrypter(block, body[9:25]).CryptBlocks(pt, body[25:])
	p := int(pt[len(pt)-1])
	if p < 1 || p > 16 {
		return nil, false
	}
	for _, b := range pt[len(pt)-p:] {
		if int(b) != p {
			return nil, false
		}
	}
	return pt[:len(pt)-p], true
}

// Fuzz modes: how the fuzzer's bytes become a token.
const (
	modeToken  = iota // the bytes are the token text
	modeSigned        // the bytes are a decoded token body; the HMAC is appended and the whole encoded
	modeV80           // as modeSigned, with the version byte forced to 0x80
	modeCount
)

func fuzzToken(k *Key, data []byte, mode uint8) []byte {
	switch mode % modeCount {
	case modeSigned:
		return []byte(base64.URLEncoding.EncodeToString(signRaw(k, data)))
	case modeV80:
		if len(data) > 0 {
			data = append([]byte{0x80}, data[1:]...)
		}
		return []byte(base64.URLEncoding.EncodeToString(signRaw(k, data)))
	}
	return data
}

func FuzzDecrypt(f *testing.F) {
	k := mustParseKey(f, testKeyText)
	var v vectorFile
	testvectors.Load(f, "fernet.json", &v)
	for _, c := range v.Cases {
		f.Add([]byte(c.Token), uint8(modeToken))
		if raw, err := base64.URLEncoding.DecodeString(c.Token); err == nil && len(raw) > 32 {
			f.Add(raw[:len(raw)-32], uint8(modeSigned))
		}
	}
	var iv [16]byte
	for _, n := range []int{0, 15, 16, 40} {
		raw, _ := base64.URLEncoding.DecodeString(string(k.Encrypt(nil, bytes.Repeat([]byte{'a'}, n), 1, &iv)))
		f.Add(raw[:len(raw)-32], uint8(modeV80))
	}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		tok := fuzzToken(k, data, mode)
		got, created, err := k.Decrypt([]byte("p"), tok)
		want, ok := refDecrypt(k, tok)
		if (err == nil) != ok {
			t.Fatalf("Decrypt(%q): err %v, reference accepts %v", tok, err, ok)
		}
		if err != nil {
			if err != ErrInvalidToken || string(got) != "p" || created != 0 {
				t.Fatalf("Decrypt(%q) failed with %q, %d, %v; want dst unchanged, 0, ErrInvalidToken", tok, got, created, err)
			}
			return
		}
		if !bytes.Equal(got[1:], want) || got[0] != 'p' {
			t.Fatalf("Decrypt(%q): got %q, reference %q", tok, got[1:], want)
		}
		if ts, err := Timestamp(tok); err != nil || ts != created {
			t.Fatalf("Timestamp(%q): got %d, %v; Decrypt said %d", tok, ts, err, created)
		}
		gp, panicked := goDecrypt(k, tok)
		if panicked || gp == nil || !bytes.Equal(gp, want) {
			t.Fatalf("fernet-go on accepted token %q: got %q (panicked %v), want %q", tok, gp, panicked, want)
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	k := mustParseKey(f, testKeyText)
	f.Add([]byte(""), int64(0), []byte("0123456789abcdef"))
	f.Add([]byte("hello"), int64(1732550400), []byte{})
	f.Add(bytes.Repeat([]byte{0x10}, 32), int64(-1), []byte{0xff})
	f.Fuzz(func(t *testing.T, pt []byte, now int64, ivBytes []byte) {
		var iv [16]byte
		copy(iv[:], ivBytes)
		tok := k.Encrypt(nil, pt, now, &iv)
		if len(tok) != EncodedLen(len(pt)) {
			t.Fatalf("got token length %d, want EncodedLen %d", len(tok), EncodedLen(len(pt)))
		}
		got, created, err := k.Decrypt(make([]byte, 0, MaxDecodedLen(len(tok))), tok)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("round trip of %q: got %q, %v", pt, got, err)
		}
		if want := max(now, 0); created != want {
			t.Fatalf("got created %d, want %d", created, want)
		}
		if want, ok := refDecrypt(k, tok); !ok || !bytes.Equal(want, pt) {
			t.Fatalf("reference refuses our token %q", tok)
		}
		if gp, panicked := goDecrypt(k, tok); panicked || !bytes.Equal(gp, pt) {
			t.Fatalf("fernet-go on our token: got %q (panicked %v), want %q", gp, panicked, pt)
		}
	})
}
