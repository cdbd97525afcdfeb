package fernet

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

const testKeyText = "v-dq4b3kvYTapVVaafxF-Nz-E93HhNX9Z7zczkulDwc="

// seal builds a raw (decoded) token from its parts with the HMAC computed,
// so tests can make tokens that reach the checks after the HMAC.
func signRaw(k *Key, raw []byte) []byte {
	raw0 := k.Raw()
	m := hmac.New(sha256.New, raw0[:16])
	m.Write(raw)
	return m.Sum(append([]byte(nil), raw...))
}

// rawToken decodes a canonical token.
func rawToken(t testing.TB, tok []byte) []byte {
	t.Helper()
	raw, err := base64.URLEncoding.DecodeString(string(tok))
	if err != nil {
		t.Fatalf("decoding token: %v", err)
	}
	return raw
}

func TestDecryptStrict(t *testing.T) {
	k := mustParseKey(t, testKeyText)
	iv := [16]byte{1, 2, 3}
	good := k.Encrypt(nil, []byte("hello, fernet"), 1732550400, &iv)
	raw := rawToken(t, good)
	body := raw[:len(raw)-32]

	// withRaw re-signs modified token bytes and encodes them.
	withRaw := func(b []byte) []byte {
		return []byte(base64.URLEncoding.EncodeToString(signRaw(k, b)))
	}
	nonCanonical := append([]byte(nil), good...)
	// good ends in "==" (73 bytes): the last data character carries 4
	// unused bits; setting one keeps the value a lenient decoder reads.
	if !bytes.HasSuffix(good, []byte("==")) {
		t.Fatalf("token %s does not end in '=='", good)
	}
	last := len(nonCanonical) - 3
	nonCanonical[last] = alphabet[strings.IndexByte(alphabet, nonCanonical[last])|1]
	if bytes.Equal(nonCanonical, good) {
		t.Fatalf("token %s already has a low bit set in its last character; change the plaintext", good)
	}
	if _, err := base64.URLEncoding.DecodeString(string(nonCanonical)); err != nil {
		t.Fatalf("non-canonical spelling no longer decodes leniently: %v", err)
	}

	block := func(b byte) []byte { return bytes.Repeat([]byte{b}, 16) }
	tests := []struct {
		name  string
		token []byte
	}{
		{"empty", nil},
		{"version 0x00", withRaw(append([]byte{0}, body[1:]...))},
		{"version 0x81", withRaw(append([]byte{0x81}, body[1:]...))},
		{"crlf inside, length multiple of 4", []byte(string(good[:40]) + "\r\n\r\n" + string(good[40:len(good)-4]))},
		{"newline replacing the padding", append(append([]byte(nil), good[:len(good)-1]...), '\n')},
		{"non-canonical last character", nonCanonical},
		{"padding missing", good[:len(good)-1]},
		{"extra padding group", append(append([]byte(nil), good...), "===="...)},
		{"raw bytes, not base64", raw},
		{"ciphertext not whole blocks", withRaw(append(append([]byte(nil), body...), 0))},
		{"no ciphertext", withRaw(body[:25])},
		{"41 bytes", withRaw(body[:9])},
		{"pad byte 0", withRaw(encryptRaw(k, body[:25], block(0)))},
		{"pad byte 17", withRaw(encryptRaw(k, body[:25], block(17)))},
		{"pad byte 0xff", withRaw(encryptRaw(k, body[:25], block(0xff)))},
		{"pad 2 with a wrong byte", withRaw(encryptRaw(k, body[:25], append(block(0)[:14], 3, 2)))},
		{"pad 16 with one wrong byte", withRaw(encryptRaw(k, body[:25], append(block(16)[:15], 15)))},
		{"pad 32 over two blocks", withRaw(encryptRaw(k, body[:25], append(block(32), block(32)...)))},
		{"hmac of another key", []byte(base64.URLEncoding.EncodeToString(signRaw(mustParseKey(t, "RYUqeUNbPbgIkIopIrj1d7XmrV9xiawDphPrk6qwvrE="), body)))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("prefix")
			got, created, err := k.Decrypt(dst, tc.token)
			if err != ErrInvalidToken {
				t.Fatalf("Decrypt(%q): got %q, %v; want ErrInvalidToken", tc.token, got, err)
			}
			if string(got) != "prefix" || created != 0 {
				t.Errorf("Decrypt(%q) on error: got dst %q, created %d; want dst unchanged, 0", tc.token, got, created)
			}
		})
	}

	// The same pad checks accept well-formed padding of every length.
	for p := 1; p <= 16; p++ {
		pt := append(bytes.Repeat([]byte{'x'}, 16-p), bytes.Repeat([]byte{byte(p)}, p)...)
		tok := withRaw(encryptRaw(k, body[:25], pt))
		got, _, err := k.Decrypt(nil, tok)
		if err != nil || !bytes.Equal(got, pt[:16-p]) {
			t.Errorf("pad %d: got %q, %v; want %q", p, got, err, pt[:16-p])
		}
	}
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// encryptRaw returns header followed by the CBC encryption of padded (whose
// length is a multiple of 16) under k with the IV in header[9:25], with no
// padding added and no HMAC.
func encryptRaw(k *Key, header, padded []byte) []byte {
	out := append([]byte(nil), header...)
	prev := header[9:25]
	for i := 0; i < len(padded); i += 16 {
		var b [16]byte
		for j := range b {
			b[j] = padded[i+j] ^ prev[j]
		}
		k.block.Encrypt(b[:], b[:])
		out = append(out, b[:]...)
		prev = out[len(out)-16:]
	}
	return out
}

func TestDecryptAppends(t *testing.T) {
	k := mustParseKey(t, testKeyText)
	var iv [16]byte
	pt := bytes.Repeat([]byte("0123456789"), 50)
	tok := k.Encrypt(nil, pt, 100, &iv)

	t.Run("after existing bytes", func(t *testing.T) {
		dst := make([]byte, 3, 3+MaxDecodedLen(len(tok)))
		copy(dst, "abc")
		got, _, err := k.Decrypt(dst, tok)
		if err != nil || string(got) != "abc"+string(pt) {
			t.Fatalf("got %q, %v; want abc+plaintext", got, err)
		}
		if &got[0] != &dst[0] {
			t.Error("Decrypt reallocated although dst had MaxDecodedLen spare capacity")
		}
	})
	t.Run("dst too small grows", func(t *testing.T) {
		got, _, err := k.Decrypt(make([]byte, 0, 4), tok)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("got %q, %v; want plaintext", got, err)
		}
	})
	t.Run("in place over the token", func(t *testing.T) {
		buf := append([]byte(nil), tok...)
		got, _, err := k.Decrypt(buf[:0], buf)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("got %q, %v; want plaintext", got, err)
		}
	})
}

func TestEncryptAppendsAndInPlace(t *testing.T) {
	k := mustParseKey(t, testKeyText)
	iv := [16]byte{9}
	for _, n := range []int{0, 1, 15, 16, 17, 47, 48, 3071, 3072, 3073, 10000} {
		pt := bytes.Repeat([]byte{byte(n)}, n)
		want := k.Encrypt(nil, pt, 5, &iv)
		if len(want) != EncodedLen(n) {
			t.Errorf("len %d: got token of %d bytes, want EncodedLen %d", n, len(want), EncodedLen(n))
		}
		got, created, err := k.Decrypt(nil, want)
		if err != nil || !bytes.Equal(got, pt) || created != 5 {
			t.Errorf("len %d: round trip got %d bytes, %d, %v", n, len(got), created, err)
		}
		appended := k.Encrypt([]byte("xy"), pt, 5, &iv)
		if string(appended) != "xy"+string(want) {
			t.Errorf("len %d: Encrypt after a prefix differs from Encrypt(nil)", n)
		}
		// Plaintext already sitting where the token is written.
		buf := make([]byte, EncodedLen(n))
		copy(buf, pt)
		if got := k.Encrypt(buf[:0], buf[:n], 5, &iv); !bytes.Equal(got, want) {
			t.Errorf("len %d: in-place Encrypt differs", n)
		}
	}
}

func TestSeal(t *testing.T) {
	k := mustParseKey(t, testKeyText)
	a, err := k.Seal(nil, []byte("same"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := k.Seal(nil, []byte("same"))
	if bytes.Equal(a, b) {
		t.Error("two Seal calls gave the same token: IV not random")
	}
	pt, created, err := k.Decrypt(nil, a)
	if err != nil || string(pt) != "same" {
		t.Fatalf("Decrypt(Seal): got %q, %v", pt, err)
	}
	if created <= 1700000000 {
		t.Errorf("Seal timestamp %d is not the current time", created)
	}
}

func TestEncryptNegativeTime(t *testing.T) {
	k := mustParseKey(t, testKeyText)
	var iv [16]byte
	tok := k.Encrypt(nil, nil, -5, &iv)
	if ts, err := Timestamp(tok); err != nil || ts != 0 {
		t.Errorf("Timestamp: got %d, %v; want 0, nil", ts, err)
	}
}

func TestTimestamp(t *testing.T) {
	k := mustParseKey(t, testKeyText)
	var iv [16]byte
	tok := k.Encrypt(nil, []byte("t"), 1732550400, &iv)
	raw := rawToken(t, tok)
	huge := append([]byte(nil), raw...)
	binary.BigEndian.PutUint64(huge[1:], math.MaxUint64)
	badVersion := append([]byte(nil), raw...)
	badVersion[0] = 0x81

	tests := []struct {
		name  string
		token []byte
		want  int64
		ok    bool
	}{
		{"valid", tok, 1732550400, true},
		{"saturated", []byte(base64.URLEncoding.EncodeToString(huge)), math.MaxInt64, true},
		{"bad version", []byte(base64.URLEncoding.EncodeToString(badVersion)), 0, false},
		{"short", tok[:96], 0, false},
		{"length not multiple of 4", tok[:len(tok)-1], 0, false},
		{"newline in header", append([]byte("gAAAAABnRJ8\n"), tok[12:]...), 0, false},
		{"padding in header", append([]byte("gAAAAABnRJ=="), tok[12:]...), 0, false},
		{"empty", nil, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Timestamp(tc.token)
			if tc.ok && (err != nil || got != tc.want) {
				t.Errorf("Timestamp(%q): got %d, %v; want %d, nil", tc.token, got, err, tc.want)
			}
			if !tc.ok && err != ErrInvalidToken {
				t.Errorf("Timestamp(%q): got %d, %v; want ErrInvalidToken", tc.token, got, err)
			}
		})
	}
}

func TestCheckAge(t *testing.T) {
	const now = 1732550400
	tests := []struct {
		name                    string
		created, now, age, skew int64
		want                    error
	}{
		{"same second", now, now, 120, 60, nil},
		{"at max age", now - 120, now, 120, 60, nil},
		{"one past max age", now - 121, now, 120, 60, ErrTokenExpired},
		{"at max skew", now + 60, now, 120, 60, nil},
		{"one past max skew", now + 61, now, 120, 60, ErrTokenFromFuture},
		{"saturated future", math.MaxInt64, now, 120, 60, ErrTokenFromFuture},
		{"far past", 0, math.MaxInt64, math.MaxInt64 - 1, 60, ErrTokenExpired},
		{"extreme span within age", math.MinInt64, math.MaxInt64, math.MaxInt64, 0, ErrTokenExpired},
		{"huge age never overflows", 0, now, math.MaxInt64, 60, nil},
		{"huge skew", math.MaxInt64, math.MinInt64, 0, math.MaxInt64, ErrTokenFromFuture},
		{"negative age is zero", now - 1, now, -5, 60, ErrTokenExpired},
		{"negative skew is zero", now + 1, now, 120, -5, ErrTokenFromFuture},
		{"zero limits, same second", now, now, 0, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CheckAge(tc.created, tc.now, tc.age, tc.skew); got != tc.want {
				t.Errorf("CheckAge(%d, %d, %d, %d): got %v, want %v", tc.created, tc.now, tc.age, tc.skew, got, tc.want)
			}
		})
	}
}
