package fernet

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(0xf8 + i) // 0xf8.. gives '-' and '_' in the URL-safe text
	}
	k, err := NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	url := k.String()
	std := strings.NewReplacer("-", "+", "_", "/").Replace(url)
	if url == std {
		t.Fatalf("test key %s has no '-' or '_'; pick other bytes", url)
	}
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"url-safe", url, true},
		{"standard alphabet", std, true},
		{"no padding", strings.TrimSuffix(url, "="), false},
		{"leading space", " " + url, false},
		{"trailing newline", url + "\n", false},
		{"empty", "", false},
		{"31 bytes", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", false},
		{"33 bytes", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", false},
		{"non-canonical last char", url[:42] + string(url[42]+1) + "=", false},
		{"bad character", "!" + url[1:], false},
		{"hex", strings.Repeat("ab", 32), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseKey(tc.in)
			if tc.ok {
				if err != nil {
					t.Fatalf("ParseKey(%q): got err %v, want key", tc.in, err)
				}
				if got.Raw() != k.Raw() {
					t.Errorf("ParseKey(%q): got %x, want %x", tc.in, got.Raw(), k.Raw())
				}
				return
			}
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("ParseKey(%q): got %v, want ErrInvalidKey", tc.in, err)
			}
			if len(tc.in) > 8 && strings.Contains(err.Error(), tc.in) {
				t.Errorf("ParseKey error %q repeats the key text", err)
			}
		})
	}
}

func TestNewKey(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := NewKey(make([]byte, n)); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("NewKey(%d bytes): got %v, want ErrInvalidKey", n, err)
		}
	}
	raw := bytes.Repeat([]byte{7}, 32)
	k, err := NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	raw[0] = 8 // NewKey must have copied
	if got := k.Raw(); got[0] != 7 {
		t.Errorf("NewKey retained the caller's slice: got first byte %d, want 7", got[0])
	}
	back, err := ParseKey(k.String())
	if err != nil || back.Raw() != k.Raw() {
		t.Errorf("ParseKey(String()): got %v, %v; want the same key", back, err)
	}
}

func TestKeyRedacted(t *testing.T) {
	k := mustParseKey(t, "v-dq4b3kvYTapVVaafxF-Nz-E93HhNX9Z7zczkulDwc=")
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("key", "key", k)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("key", "key", k)
	fmt.Fprintf(&buf, "%#v", k)
	if strings.Contains(buf.String(), k.String()) || strings.Contains(buf.String(), "v-dq4b3k") {
		t.Errorf("log output holds the key: %s", buf.String())
	}
	if !strings.Contains(buf.String(), "REDACTED") {
		t.Errorf("log output has no redaction marker: %s", buf.String())
	}
}

func TestZeroKey(t *testing.T) {
	var k *Key
	if _, _, err := k.Decrypt(nil, []byte("x")); err != ErrInvalidToken {
		t.Errorf("nil Key Decrypt: got %v, want ErrInvalidToken", err)
	}
	if _, _, err := new(Key).Decrypt(nil, []byte("x")); err != ErrInvalidToken {
		t.Errorf("zero Key Decrypt: got %v, want ErrInvalidToken", err)
	}
	if _, err := new(Key).Seal(nil, []byte("x")); err == nil {
		t.Error("zero Key Seal: got nil error, want one")
	}
}
