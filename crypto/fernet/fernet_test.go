package fernet

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/fibergate/fibergate/internal/testvectors"
)

type vectorFile struct {
	Cases []vectorCase `json:"cases"`
}

type vectorCase struct {
	ID             string  `json:"id"`
	Key            string  `json:"key"`
	PlaintextB64   *string `json:"plaintext_b64"`
	Token          string  `json:"token"`
	TokenTimestamp *uint64 `json:"token_timestamp"`
	NowUnix        int64   `json:"now_unix"`
	TTLSeconds     *int64  `json:"ttl_seconds"`
	Valid          bool    `json:"valid"`
	Note           string  `json:"note"`
	PythonReason   *string `json:"python_reason"`
}

// stricterThanPython lists the cases Python's cryptography accepts and this
// package refuses on purpose: its base64 decoder maps '+' and '/' onto the
// URL-safe alphabet and discards characters outside it, so it reads tokens
// no Fiber client writes (Fiber always writes plain URL-safe base64).
var stricterThanPython = map[string]string{
	"standard_alphabet_token":     "standard alphabet '+' and '/'",
	"token_trailing_newline":      "trailing newline",
	"trailing_data_after_padding": "data after the '=' padding",
	"trailing_non_alphabet":       "non-alphabet characters after the token",
	"token_embedded_spaces":       "embedded space and CRLF",
}

// maxSkew is Python cryptography's allowance for a token from the future.
const maxSkew = 60

func loadCases(t *testing.T) []vectorCase {
	t.Helper()
	var v vectorFile
	testvectors.Load(t, "fernet.json", &v)
	if len(v.Cases) == 0 {
		t.Fatal("fernet.json holds no cases")
	}
	return v.Cases
}

func mustParseKey(t testing.TB, s string) *Key {
	t.Helper()
	k, err := ParseKey(s)
	if err != nil {
		t.Fatalf("ParseKey: %v", err)
	}
	return k
}

func wantCreated(ts uint64) int64 {
	if ts > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(ts)
}

func TestVectors(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range loadCases(t) {
		seen[c.ID] = true
		t.Run(c.ID, func(t *testing.T) {
			k, err := ParseKey(c.Key)
			if err != nil {
				t.Fatalf("case %s (%s): ParseKey: %v", c.ID, c.Note, err)
			}
			pt, created, err := k.Decrypt(nil, []byte(c.Token))

			if why, strict := stricterThanPython[c.ID]; strict {
				if !c.Valid {
					t.Fatalf("case %s: listed as stricter than Python but Python rejects it too; update the list", c.ID)
				}
				if !errors.Is(err, ErrInvalidToken) {
					t.Errorf("case %s (%s): got err %v, want ErrInvalidToken (strict: %s)", c.ID, c.Note, err, why)
				}
				return
			}

			if err != nil {
				if c.Valid {
					t.Fatalf("case %s (%s): got err %v, want plaintext", c.ID, c.Note, err)
				}
				if err != ErrInvalidToken {
					t.Errorf("case %s (%s): got err %v, want exactly ErrInvalidToken", c.ID, c.Note, err)
				}
				if pt != nil {
					t.Errorf("case %s (%s): got plaintext %x with an error, want nil (dst unchanged)", c.ID, c.Note, pt)
				}
				return
			}

			// Decrypt accepted the token: it must be authentic, and the
			// verdict then rests on the time check (if the case has one).
			if c.PlaintextB64 == nil || c.TokenTimestamp == nil {
				t.Fatalf("case %s (%s): Decrypt accepted a token with no plaintext to compare", c.ID, c.Note)
			}
			want, _ := base64.StdEncoding.DecodeString(*c.PlaintextB64)
			if !bytes.Equal(pt, want) {
				t.Errorf("case %s (%s): got plaintext %q, want %q", c.ID, c.Note, pt, want)
			}
			if got, want := created, wantCreated(*c.TokenTimestamp); got != want {
				t.Errorf("case %s (%s): got created %d, want %d", c.ID, c.Note, got, want)
			}
			if ts, err := Timestamp([]byte(c.Token)); err != nil || ts != created {
				t.Errorf("case %s (%s): Timestamp got %d, %v; want %d, nil", c.ID, c.Note, ts, err, created)
			}

			if c.TTLSeconds == nil {
				if !c.Valid {
					t.Errorf("case %s (%s): got plaintext, want rejection", c.ID, c.Note)
				}
				return
			}
			ageErr := CheckAge(created, c.NowUnix, *c.TTLSeconds, maxSkew)
			if c.Valid {
				if ageErr != nil {
					t.Errorf("case %s (%s): CheckAge got %v, want nil", c.ID, c.Note, ageErr)
				}
				return
			}
			var wantErr error
			switch reason := deref(c.PythonReason); {
			case strings.Contains(reason, "expired"):
				wantErr = ErrTokenExpired
			case strings.Contains(reason, "future"):
				wantErr = ErrTokenFromFuture
			default:
				t.Fatalf("case %s (%s): authentic token rejected by Python for %q, not a time rule", c.ID, c.Note, reason)
			}
			if ageErr != wantErr {
				t.Errorf("case %s (%s): CheckAge got %v, want %v", c.ID, c.Note, ageErr, wantErr)
			}
		})
	}
	for id := range stricterThanPython {
		if !seen[id] {
			t.Errorf("strict case %s is not in fernet.json", id)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestEncryptReproducesVectors rebuilds every valid, canonically spelled
// vector token from its plaintext, timestamp and IV: Encrypt must write the
// same bytes as Python.
func TestEncryptReproducesVectors(t *testing.T) {
	for _, c := range loadCases(t) {
		if !c.Valid || c.TokenTimestamp == nil || *c.TokenTimestamp > math.MaxInt64 {
			continue
		}
		if _, strict := stricterThanPython[c.ID]; strict {
			continue
		}
		t.Run(c.ID, func(t *testing.T) {
			k := mustParseKey(t, c.Key)
			raw, err := base64.URLEncoding.DecodeString(c.Token)
			if err != nil {
				t.Fatalf("case %s (%s): decoding token: %v", c.ID, c.Note, err)
			}
			var iv [16]byte
			copy(iv[:], raw[9:25])
			pt, _ := base64.StdEncoding.DecodeString(*c.PlaintextB64)
			got := k.Encrypt(nil, pt, int64(*c.TokenTimestamp), &iv)
			if string(got) != c.Token {
				t.Errorf("case %s (%s): got token %s, want %s", c.ID, c.Note, got, c.Token)
			}
		})
	}
}

func TestLargeVector(t *testing.T) {
	var v struct {
		Key             string `json:"key"`
		PlaintextSHA256 string `json:"plaintext_sha256"`
		PlaintextLength int    `json:"plaintext_length"`
		TokenTimestamp  int64  `json:"token_timestamp"`
		Token           string `json:"token"`
	}
	testvectors.Load(t, "fernet-large.json", &v)
	k := mustParseKey(t, v.Key)
	pt, created, err := k.Decrypt(nil, []byte(v.Token))
	if err != nil {
		t.Fatalf("fernet-large: got err %v, want plaintext", err)
	}
	if len(pt) != v.PlaintextLength {
		t.Errorf("fernet-large: got %d bytes, want %d", len(pt), v.PlaintextLength)
	}
	sum := sha256.Sum256(pt)
	if got := hex.EncodeToString(sum[:]); got != v.PlaintextSHA256 {
		t.Errorf("fernet-large: got sha256 %s, want %s", got, v.PlaintextSHA256)
	}
	if created != v.TokenTimestamp {
		t.Errorf("fernet-large: got created %d, want %d", created, v.TokenTimestamp)
	}
	raw, _ := base64.URLEncoding.DecodeString(v.Token)
	var iv [16]byte
	copy(iv[:], raw[9:25])
	if got := k.Encrypt(nil, pt, created, &iv); string(got) != v.Token {
		t.Errorf("fernet-large: Encrypt did not reproduce the token (got %d bytes, want %d)", len(got), len(v.Token))
	}
}
