package wallet

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/internal/testvectors"
)

type vectorKey struct {
	Label         string `json:"label"`
	MiniSecretHex string `json:"mini_secret_hex"`
	SecretKeyHex  string `json:"secret_key_hex"`
	PublicKeyHex  string `json:"public_key_hex"`
	SS58          string `json:"ss58"`
}

type vectors struct {
	Keys       []vectorKey `json:"keys"`
	Ed25519Key struct {
		SeedHex      string `json:"seed_hex"`
		PublicKeyHex string `json:"public_key_hex"`
	} `json:"ed25519_key"`
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	var v vectors
	testvectors.Load(t, "sr25519.json", &v)
	if len(v.Keys) == 0 {
		t.Fatal("no keys in sr25519.json")
	}
	return v
}

func keyByLabel(t *testing.T, v vectors, label string) vectorKey {
	t.Helper()
	for _, k := range v.Keys {
		if k.Label == label {
			return k
		}
	}
	t.Fatalf("no key %q in the vectors", label)
	return vectorKey{}
}

func mustHex32(t *testing.T, s string) [32]byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != 32 {
		t.Fatalf("bad test hex %q", s)
	}
	return [32]byte(b)
}

// bittensorFile writes a hotkey file as bittensor does: every field, with
// secretPhrase null for a key made from a seed.
func bittensorFile(k vectorKey) map[string]any {
	return map[string]any{
		"accountId":    k.PublicKeyHex,
		"publicKey":    k.PublicKeyHex,
		"privateKey":   k.SecretKeyHex,
		"secretPhrase": nil,
		"secretSeed":   k.MiniSecretHex,
		"ss58Address":  k.SS58,
	}
}

func writeJSON(t *testing.T, dir string, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return writeRaw(t, dir, b)
}

func writeRaw(t *testing.T, dir string, b []byte) string {
	t.Helper()
	path := filepath.Join(dir, "default")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Every key in the vectors loads from a full bittensor file, with its seed.
func TestLoadVectorKeys(t *testing.T) {
	v := loadVectors(t)
	for _, k := range v.Keys {
		t.Run(k.Label, func(t *testing.T) {
			h, err := LoadHotkeyFile(writeJSON(t, t.TempDir(), bittensorFile(k)))
			if err != nil {
				t.Fatalf("case %s: %v", k.Label, err)
			}
			if h.SS58 != k.SS58 {
				t.Errorf("case %s: SS58 got %q, want %q", k.Label, h.SS58, k.SS58)
			}
			if want := mustHex32(t, k.PublicKeyHex); h.PublicKey != want {
				t.Errorf("case %s: PublicKey got %x, want %x", k.Label, h.PublicKey, want)
			}
			if want := mustHex32(t, k.MiniSecretHex); h.Seed == nil || *h.Seed != want {
				t.Errorf("case %s: Seed got %v, want the mini secret", k.Label, h.Seed != nil)
			}
		})
	}
}

func TestLoadForms(t *testing.T) {
	v := loadVectors(t)
	alice := keyByLabel(t, v, "alice")
	alicePub := mustHex32(t, alice.PublicKeyHex)
	edPub := mustHex32(t, v.Ed25519Key.PublicKeyHex)
	cases := []struct {
		name     string
		file     map[string]any
		wantSS58 string
		wantPub  [32]byte
		wantSeed bool
	}{
		{"address only", map[string]any{"ss58Address": alice.SS58}, alice.SS58, alicePub, false},
		{"public key only", map[string]any{"publicKey": alice.PublicKeyHex}, alice.SS58, alicePub, false},
		{"account id only, bare hex", map[string]any{"accountId": strings.TrimPrefix(alice.PublicKeyHex, "0x")}, alice.SS58, alicePub, false},
		{"no seed", map[string]any{"ss58Address": alice.SS58, "publicKey": alice.PublicKeyHex, "secretSeed": nil, "privateKey": nil}, alice.SS58, alicePub, false},
		{"empty seed", map[string]any{"ss58Address": alice.SS58, "secretSeed": ""}, alice.SS58, alicePub, false},
		{"upper-case hex", map[string]any{"publicKey": "0X" + strings.ToUpper(alice.PublicKeyHex[2:]), "secretSeed": strings.ToUpper(alice.MiniSecretHex[2:])}, alice.SS58, alicePub, true},
		{"other network prefix", map[string]any{"ss58Address": ss58.Encode(alicePub, 0), "publicKey": alice.PublicKeyHex}, ss58.Encode(alicePub, 0), alicePub, false},
		{"ed25519 seed", map[string]any{"publicKey": v.Ed25519Key.PublicKeyHex, "secretSeed": v.Ed25519Key.SeedHex}, ss58.Encode(edPub, 42), edPub, true},
		{"unknown fields", map[string]any{"ss58Address": alice.SS58, "cryptoType": 1, "extra": []int{1}}, alice.SS58, alicePub, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := LoadHotkeyFile(writeJSON(t, t.TempDir(), tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if h.SS58 != tc.wantSS58 || h.PublicKey != tc.wantPub || (h.Seed != nil) != tc.wantSeed {
				t.Errorf("got %#v, want SS58 %s, key %x, seed %v", h, tc.wantSS58, tc.wantPub, tc.wantSeed)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	v := loadVectors(t)
	alice := keyByLabel(t, v, "alice")
	bob := keyByLabel(t, v, "bob")
	withField := func(k, val string) []byte {
		m := bittensorFile(alice)
		m[k] = val
		b, _ := json.Marshal(m)
		return b
	}
	cases := []struct {
		name    string
		data    []byte
		wantIs  error
		wantMsg string
	}{
		{"nacl encrypted", []byte("$NACL\x00\x01\x02garbage"), ErrEncrypted, "NaCl"},
		{"ansible vault", []byte("$ANSIBLE_VAULT;1.1;AES256\n6162"), ErrEncrypted, "unencrypted"},
		{"legacy fernet", []byte("gAAAAABk-token"), ErrEncrypted, "unencrypted"},
		{"binary", []byte{0x00, 0xff, 0x10}, ErrEncrypted, "unencrypted"},
		{"empty", nil, ErrEncrypted, "unencrypted"},
		{"bad JSON", []byte(`{"ss58Address": `), nil, "bad JSON"},
		{"wrong JSON types", []byte(`{"ss58Address": 5}`), nil, "bad JSON"},
		{"no key at all", []byte(`{"secretPhrase": "bottom drive"}`), nil, "no ss58Address, publicKey or accountId"},
		{"bad address", withField("ss58Address", alice.SS58[:40]), nil, "ss58Address"},
		{"address and public key differ", withField("ss58Address", bob.SS58), ErrMismatch, "ss58Address and publicKey are different keys"},
		{"account id differs", withField("accountId", bob.PublicKeyHex), ErrMismatch, "accountId"},
		{"seed of another key", withField("secretSeed", bob.MiniSecretHex), ErrMismatch, "secretSeed does not produce"},
		{"short public key", withField("publicKey", alice.PublicKeyHex[:64]), nil, "publicKey: want 32 bytes"},
		{"non-hex public key", withField("publicKey", "0x"+strings.Repeat("zz", 32)), nil, "publicKey: want 64 hex digits"},
		{"long seed", withField("secretSeed", alice.MiniSecretHex+"00"), nil, "secretSeed: parsing seed: want 32 bytes"},
		{"zero key", []byte(`{"publicKey": "0x` + strings.Repeat("00", 32) + `"}`), nil, "all-zero"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := LoadHotkeyFile(writeRaw(t, t.TempDir(), tc.data))
			if err == nil {
				t.Fatalf("got %#v, want an error", h)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("got %v, want errors.Is %v", err, tc.wantIs)
			}
			if tc.wantIs == nil && (errors.Is(err, ErrEncrypted) || errors.Is(err, ErrMismatch)) {
				t.Errorf("got %v, want neither ErrEncrypted nor ErrMismatch", err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("got %q, want it to contain %q", err, tc.wantMsg)
			}
			if strings.Contains(strings.ToLower(err.Error()), alice.MiniSecretHex[2:]) {
				t.Errorf("the error repeats the seed: %v", err)
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		_, err := LoadHotkeyFile(filepath.Join(t.TempDir(), "nope"))
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "reading hotkey file") {
			t.Errorf("got %v, want a reading error wrapping fs.ErrNotExist", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		_, err := LoadHotkeyFile(writeRaw(t, t.TempDir(), bytes.Repeat([]byte(" "), maxFileSize+1)))
		if err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("got %v, want a size error", err)
		}
	})
}

func TestHomeExpansion(t *testing.T) {
	v := loadVectors(t)
	alice := keyByLabel(t, v, "alice")
	home := t.TempDir()
	t.Setenv("HOME", home)
	dir := filepath.Join(home, ".bittensor", "wallets", "default", "hotkeys")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeJSON(t, dir, bittensorFile(alice))
	h, err := LoadHotkeyFile("~/.bittensor/wallets/default/hotkeys/default")
	if err != nil {
		t.Fatal(err)
	}
	if h.SS58 != alice.SS58 {
		t.Errorf("got %s, want %s", h.SS58, alice.SS58)
	}
}

// The seed shows up in no formatting and no log record.
func TestSeedRedacted(t *testing.T) {
	v := loadVectors(t)
	alice := keyByLabel(t, v, "alice")
	h, err := LoadHotkeyFile(writeJSON(t, t.TempDir(), bittensorFile(alice)))
	if err != nil {
		t.Fatal(err)
	}
	seedHex := alice.MiniSecretHex[2:]
	seed := mustHex32(t, alice.MiniSecretHex)

	var buf bytes.Buffer
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		fmt.Fprintf(&buf, f+"\n", h)
		fmt.Fprintf(&buf, f+"\n", *h)
	}
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("loaded", "hotkey", h, "value", *h)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("loaded", "hotkey", h)
	out := strings.ToLower(buf.String())
	if strings.Contains(out, seedHex) {
		t.Errorf("output holds the seed in hex:\n%s", out)
	}
	if strings.Contains(out, fmt.Sprint(seed[:8])[1:20]) {
		t.Errorf("output holds the seed as decimal bytes:\n%s", out)
	}
	if !strings.Contains(buf.String(), alice.SS58) || !strings.Contains(buf.String(), `"has_seed":true`) {
		t.Errorf("output lacks the address or has_seed:\n%s", buf.String())
	}
}

func TestParseSeedHex(t *testing.T) {
	const hex64 = "e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a"
	want := [32]byte{0xe5, 0xbe, 0x9a, 0x50, 0x92, 0xb8, 0x1b, 0xca, 0x64, 0xbe, 0x81, 0xd2, 0x12, 0xe7, 0xf2, 0xf9,
		0xeb, 0xa1, 0x83, 0xbb, 0x7a, 0x90, 0x95, 0x4f, 0x7b, 0x76, 0x36, 0x1f, 0x6e, 0xdb, 0x5c, 0x0a}
	cases := []struct {
		name, in string
		wantErr  bool
	}{
		{"0x prefix", "0x" + hex64, false},
		{"0X prefix", "0X" + hex64, false},
		{"bare", hex64, false},
		{"upper case", strings.ToUpper(hex64), false},
		{"empty", "", true},
		{"prefix only", "0x", true},
		{"63 digits", "0x" + hex64[:63], true},
		{"65 digits", "0x" + hex64 + "0", true},
		{"31 bytes", hex64[:62], true},
		{"33 bytes", hex64 + "00", true},
		{"non-hex", "0x" + hex64[:62] + "zz", true},
		{"spaces", " " + hex64[1:], true},
		{"double prefix", "0x0x" + hex64[4:], true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSeedHex(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got %x, want an error", got)
				}
				if len(tc.in) > 8 && strings.Contains(err.Error(), tc.in[4:12]) {
					t.Errorf("the error repeats the input: %v", err)
				}
				if got != ([32]byte{}) {
					t.Errorf("got %x with an error, want zero", got)
				}
				return
			}
			if err != nil || got != want {
				t.Errorf("got %x, %v, want %x", got, err, want)
			}
		})
	}
}

// FuzzParseHotkey checks that no content panics the parser and that any
// accepted file yields a consistent, non-zero key.
func FuzzParseHotkey(f *testing.F) {
	f.Add([]byte(`{"ss58Address": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", "secretSeed": "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a"}`))
	f.Add([]byte(`{"publicKey": "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"}`))
	f.Add([]byte(`$NACL`))
	f.Add([]byte(`{"accountId": null, "secretSeed": "zz"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := parseHotkey(data)
		if err != nil {
			return
		}
		pub, _, err := ss58.Decode(h.SS58)
		if err != nil || pub != h.PublicKey || pub == ([32]byte{}) {
			t.Fatalf("accepted %q with SS58 %q and key %x (%v)", data, h.SS58, h.PublicKey, err)
		}
		if h.Seed != nil && !seedMatches(h.Seed, h.PublicKey) {
			t.Fatalf("accepted a seed that does not produce the key")
		}
	})
}
