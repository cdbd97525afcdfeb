package wallet

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	schnorrkel "github.com/ChainSafe/go-schnorrkel"

	"github.com/fibergate/fibergate/crypto/ss58"
)

// maxFileSize bounds what is read of a hotkey file; a real one is under
// 1KiB.
const maxFileSize = 64 << 10

// Errors returned by LoadHotkeyFile, wrapped with details. Branch on them
// with errors.Is.
var (
	// ErrEncrypted means the file is not plain JSON: bittensor's encrypted
	// keyfile formats ($NACL, and older ones) or something else unreadable.
	ErrEncrypted = errors.New("hotkey file is encrypted or not JSON")
	// ErrMismatch means two forms of the key in the file name different
	// keys, or the seed does not produce the public key.
	ErrMismatch = errors.New("hotkey file holds keys that disagree")
)

// Hotkey is a wallet hotkey. Formatting it with fmt or logging it with
// slog shows the address only, never the seed.
type Hotkey struct {
	// SS58 is the address, as the file gives it (or encoded with prefix
	// 42 when the file has only the public key).
	SS58 string
	// PublicKey is the 32-byte public key.
	PublicKey [32]byte
	// Seed is the 32-byte secret seed (mini secret key), or nil when the
	// file holds none.
	Seed *[32]byte
}

// String returns the address.
func (h Hotkey) String() string { return h.SS58 }

// GoString returns a Go-like form with the seed redacted.
func (h Hotkey) GoString() string {
	seed := "nil"
	if h.Seed != nil {
		seed = "REDACTED"
	}
	return fmt.Sprintf("wallet.Hotkey{SS58: %q, PublicKey: 0x%x, Seed: %s}", h.SS58, h.PublicKey, seed)
}

// LogValue implements slog.LogValuer: the address and whether a seed is
// held, never the seed.
func (h Hotkey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("ss58", h.SS58), slog.Bool("has_seed", h.Seed != nil))
}

// keyFile is the JSON that bittensor writes for a keypair. Only the fields
// fibergate uses are decoded; privateKey and secretPhrase are ignored.
type keyFile struct {
	SS58Address *string `json:"ss58Address"`
	PublicKey   *string `json:"publicKey"`
	AccountID   *string `json:"accountId"`
	SecretSeed  *string `json:"secretSeed"`
}

// LoadHotkeyFile reads the unencrypted hotkey file at path; a leading "~"
// or "~/" is the home directory. It checks that ss58Address, publicKey and
// accountId, where present, name one key, and that secretSeed, where
// present, produces it (as an sr25519 mini secret, or as an ed25519 seed).
func LoadHotkeyFile(path string) (*Hotkey, error) {
	p, err := expandHome(path)
	if err != nil {
		return nil, fmt.Errorf("reading hotkey file %q: %w", path, err)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("reading hotkey file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading hotkey file %q: %w", p, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("reading hotkey file %q: larger than %d bytes, not a hotkey file", p, maxFileSize)
	}
	h, err := parseHotkey(data)
	if err != nil {
		return nil, fmt.Errorf("reading hotkey file %q: %w", p, err)
	}
	return h, nil
}

func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return home + p[1:], nil
}

// parseHotkey decodes and checks a hotkey file's content.
func parseHotkey(data []byte) (*Hotkey, error) {
	trimmed := bytes.TrimSpace(data)
	switch {
	case bytes.HasPrefix(trimmed, []byte("$NACL")):
		return nil, fmt.Errorf("%w (NaCl); fibergate reads unencrypted hotkey files, as bittensor writes them", ErrEncrypted)
	case len(trimmed) == 0 || trimmed[0] != '{':
		return nil, fmt.Errorf("%w; fibergate reads unencrypted hotkey files, as bittensor writes them", ErrEncrypted)
	}
	var kf keyFile
	if err := json.Unmarshal(trimmed, &kf); err != nil {
		return nil, fmt.Errorf("bad JSON: %w", err)
	}

	var h Hotkey
	var have []string // the fields that gave the key, for messages
	setKey := func(field string, pub [32]byte) error {
		if len(have) > 0 && pub != h.PublicKey {
			return fmt.Errorf("%w: %s and %s are different keys", ErrMismatch, have[0], field)
		}
		h.PublicKey = pub
		have = append(have, field)
		return nil
	}
	if s := kf.SS58Address; s != nil && *s != "" {
		pub, _, err := ss58.Decode(*s)
		if err != nil {
			return nil, fmt.Errorf("ss58Address: %w", err)
		}
		h.SS58 = *s
		if err := setKey("ss58Address", pub); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"publicKey", kf.PublicKey}, {"accountId", kf.AccountID}} {
		if f.v == nil || *f.v == "" {
			continue
		}
		pub, err := parseHex32(*f.v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		if err := setKey(f.name, pub); err != nil {
			return nil, err
		}
	}
	if len(have) == 0 {
		return nil, errors.New("no ss58Address, publicKey or accountId")
	}
	if h.PublicKey == ([32]byte{}) {
		return nil, errors.New("the all-zero key is not a hotkey")
	}
	if h.SS58 == "" {
		h.SS58 = ss58.Encode(h.PublicKey, ss58.Bittensor)
	}

	if s := kf.SecretSeed; s != nil && *s != "" {
		seed, err := ParseSeedHex(*s)
		if err != nil {
			return nil, fmt.Errorf("secretSeed: %w", err)
		}
		if !seedMatches(&seed, h.PublicKey) {
			return nil, fmt.Errorf("%w: secretSeed does not produce the key in %s", ErrMismatch, have[0])
		}
		h.Seed = &seed
	}
	return &h, nil
}

// seedMatches reports whether seed produces pub as an sr25519 mini secret
// key (expanded as Substrate does) or as an ed25519 seed.
func seedMatches(seed *[32]byte, pub [32]byte) bool {
	if msk, err := schnorrkel.NewMiniSecretKeyFromRaw(*seed); err == nil {
		if pk := msk.Public(); pk != nil && pk.Encode() == pub {
			return true
		}
	}
	edPub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
	return bytes.Equal(edPub, pub[:])
}

// ParseSeedHex parses a 32-byte seed written as 64 hex digits, with or
// without a "0x" prefix. Its errors never repeat the input, which is a
// secret.
func ParseSeedHex(s string) ([32]byte, error) {
	seed, err := parseHex32(s)
	if err != nil {
		return seed, fmt.Errorf("parsing seed: %w", err)
	}
	return seed, nil
}

// parseHex32 decodes 32 bytes from 64 hex digits with an optional 0x.
// Errors name the problem but not the input.
func parseHex32(s string) ([32]byte, error) {
	var out [32]byte
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
	}
	if len(s) != 64 {
		return out, fmt.Errorf("want 32 bytes as 64 hex digits, got %d digits", len(s))
	}
	if _, err := hex.Decode(out[:], []byte(s)); err != nil {
		return [32]byte{}, errors.New("want 64 hex digits, found another character")
	}
	return out, nil
}
