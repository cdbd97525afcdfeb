package ss58

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/fibergate/fibergate/internal/testvectors"
)

type vectorFile struct {
	Cases []vectorCase `json:"cases"`
}

type vectorCase struct {
	Address      string  `json:"address"`
	PublicKeyHex *string `json:"public_key_hex"`
	Prefix       *int    `json:"prefix"`
	Valid        bool    `json:"valid"`
	Note         string  `json:"note"`
}

// wantErr names the error each invalid vector must produce, by the start of
// its note. Where @polkadot reports a different reason (it calls a 37-byte
// address a checksum failure), the reason here is the first rule the
// address breaks in this decoder.
var wantErr = []struct {
	notePrefix string
	err        error
}{
	{"bad checksum", ErrChecksum},
	{"wrong length", ErrLength},
	{"truncated", ErrLength},
	{"20-byte (Ethereum-style H160)", ErrLength},
	{"non-base58 character", ErrAlphabet},
	{"leading space", ErrAlphabet},
	{"trailing newline", ErrAlphabet},
	{"empty string", ErrEmpty},
	{"20-byte Ethereum hex address", ErrHex},
	{"the 32-byte public key as 0x-hex", ErrHex},
	{"reserved prefix 46", ErrPrefix},
	{"first byte 0xAA", ErrPrefix},
}

func expectedErr(t *testing.T, note string) error {
	t.Helper()
	for _, w := range wantErr {
		if strings.HasPrefix(note, w.notePrefix) {
			return w.err
		}
	}
	t.Fatalf("no expected error listed for invalid case %q", note)
	return nil
}

func mustKey(t *testing.T, s string) [32]byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != 32 {
		t.Fatalf("bad key hex %q in vectors", s)
	}
	return [32]byte(b)
}

func TestVectors(t *testing.T) {
	var v vectorFile
	testvectors.Load(t, "ss58.json", &v)
	if len(v.Cases) == 0 {
		t.Fatal("no cases in ss58.json")
	}
	for i, c := range v.Cases {
		t.Run(c.Note, func(t *testing.T) {
			for _, via := range []string{"string", "bytes"} {
				var (
					pub    [32]byte
					prefix uint16
					err    error
				)
				if via == "string" {
					pub, prefix, err = Decode(c.Address)
				} else {
					pub, prefix, err = DecodeBytes([]byte(c.Address))
				}
				if !c.Valid {
					want := expectedErr(t, c.Note)
					if !errors.Is(err, want) {
						t.Errorf("case %d (%s) via %s: got error %v, want %v", i, c.Note, via, err, want)
					}
					continue
				}
				if err != nil {
					t.Fatalf("case %d (%s) via %s: got error %v, want success", i, c.Note, via, err)
				}
				if want := mustKey(t, *c.PublicKeyHex); pub != want {
					t.Errorf("case %d (%s) via %s: got key %x, want %x", i, c.Note, via, pub, want)
				}
				if prefix != uint16(*c.Prefix) {
					t.Errorf("case %d (%s) via %s: got prefix %d, want %d", i, c.Note, via, prefix, *c.Prefix)
				}
			}
			if !c.Valid {
				return
			}
			// Encode always writes the canonical form; the vector is canonical
			// unless its note says otherwise, and then re-encoding must still
			// give an address of the same key and prefix.
			got := Encode(mustKey(t, *c.PublicKeyHex), uint16(*c.Prefix))
			if strings.HasPrefix(c.Note, "NON-CANONICAL") {
				if got == c.Address {
					t.Errorf("case %d (%s): Encode reproduced the non-canonical spelling %q", i, c.Note, got)
				}
				pub, prefix, err := Decode(got)
				if err != nil || pub != mustKey(t, *c.PublicKeyHex) || prefix != uint16(*c.Prefix) {
					t.Errorf("case %d (%s): re-encoded %q decodes to (%x, %d, %v)", i, c.Note, got, pub, prefix, err)
				}
				return
			}
			if got != c.Address {
				t.Errorf("case %d (%s): Encode got %q, want %q", i, c.Note, got, c.Address)
			}
		})
	}
}

func TestEncodeInvalidPrefix(t *testing.T) {
	var pub [32]byte
	for _, p := range []uint16{46, 47, MaxPrefix + 1, 65535} {
		if got := Encode(pub, p); got != "" {
			t.Errorf("Encode(prefix %d): got %q, want empty string", p, got)
		}
	}
}

// TestPrefixRoundTrip covers every prefix: the two-byte packing is
// easy to get wrong in one bit for only some values.
func TestPrefixRoundTrip(t *testing.T) {
	pub := [32]byte{0xd4, 0x35, 0x93, 0xc7, 1, 2, 3}
	for p := uint16(0); p <= MaxPrefix; p++ {
		addr := Encode(pub, p)
		if reserved(p) {
			if addr != "" {
				t.Fatalf("Encode(prefix %d): got %q, want empty string", p, addr)
			}
			continue
		}
		gotPub, gotPrefix, err := Decode(addr)
		if err != nil || gotPub != pub || gotPrefix != p {
			t.Fatalf("prefix %d: %q decodes to (%x, %d, %v), want (%x, %d, nil)", p, addr, gotPub, gotPrefix, err, pub, p)
		}
	}
}

// TestReservedTwoByteForm: prefix 46 spelled in the two-byte form is still
// reserved (sp-core and scalecodec check the decoded prefix), although
// @polkadot only checks the first byte.
func TestReservedTwoByteForm(t *testing.T) {
	for _, p := range []uint16{46, 47} {
		raw := []byte{byte((p&0xfc)>>2) | 0x40, byte(p>>8) | byte((p&0x03)<<6)}
		raw = append(raw, make([]byte, 32)...)
		sum := checksum(raw)
		raw = append(raw, sum[:2]...)
		addr := encodeRaw(raw)
		if _, _, err := Decode(addr); !errors.Is(err, ErrPrefix) {
			t.Errorf("prefix %d in two-byte form %q: got %v, want %v", p, addr, err, ErrPrefix)
		}
	}
}

// TestOneByteChecksumForm: @polkadot reads 35 bytes with a two-byte prefix as
// a 32-byte key with a one-byte checksum. The SS58 spec (and scalecodec,
// sp-core) give a 32-byte account a two-byte checksum, so it is refused.
func TestOneByteChecksumForm(t *testing.T) {
	raw := []byte{0x4a, 0x80}
	raw = append(raw, make([]byte, 32)...)
	sum := checksum(raw)
	raw = append(raw, sum[0])
	addr := encodeRaw(raw)
	if _, _, err := Decode(addr); !errors.Is(err, ErrLength) {
		t.Errorf("%q: got %v, want %v", addr, err, ErrLength)
	}
}

func TestLongInput(t *testing.T) {
	long := strings.Repeat("z", maxEncoded+1)
	if _, _, err := Decode(long); !errors.Is(err, ErrLength) {
		t.Errorf("%d characters: got %v, want %v", len(long), err, ErrLength)
	}
	// The largest 50-digit number overflows 36 bytes without overflowing the
	// accumulator.
	if _, _, err := Decode(strings.Repeat("z", maxEncoded)); !errors.Is(err, ErrLength) {
		t.Errorf("50 'z': got %v, want %v", err, ErrLength)
	}
}

func TestDecodeAllocs(t *testing.T) {
	addr := []byte("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY")
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := DecodeBytes(addr); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("DecodeBytes: got %v allocations, want 0", allocs)
	}
}
