package scale

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// encodeCompact writes v (lo, hi) in SCALE's shortest compact form. It is
// the reference the decoder's canonical checks are tested against.
func encodeCompact(lo, hi uint64) []byte {
	switch {
	case hi == 0 && lo < 1<<6:
		return []byte{byte(lo << 2)}
	case hi == 0 && lo < 1<<14:
		v := lo<<2 | 1
		return []byte{byte(v), byte(v >> 8)}
	case hi == 0 && lo < 1<<30:
		v := lo<<2 | 2
		return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
	}
	var le []byte
	for i := 0; i < 8; i++ {
		le = append(le, byte(lo>>(8*i)))
	}
	for i := 0; i < 8; i++ {
		le = append(le, byte(hi>>(8*i)))
	}
	for len(le) > 4 && le[len(le)-1] == 0 {
		le = le[:len(le)-1]
	}
	return append([]byte{byte(len(le)-4)<<2 | 3}, le...)
}

func TestCompact(t *testing.T) {
	cases := []struct {
		name   string
		in     string
		width  int
		lo, hi uint64
		err    error
	}{
		// The examples of the chain fixtures' README.
		{"stake 2557172316", "035c5a6b98", 64, 2557172316, 0, nil},
		{"length 74", "2901", 64, 74, 0, nil},
		{"count 1024", "0110", 16, 1024, 0, nil},
		{"netuid 1", "04", 16, 1, 0, nil},
		{"zero", "00", 16, 0, 0, nil},
		{"63, the largest one-byte value", "fc", 16, 63, 0, nil},
		{"64, the smallest two-byte value", "0101", 16, 64, 0, nil},
		{"16383, the largest two-byte value", "fdff", 16, 16383, 0, nil},
		{"16384, the smallest four-byte value", "02000100", 32, 16384, 0, nil},
		{"u16 max", "feff0300", 16, 65535, 0, nil},
		{"2^30-1, the largest four-byte value", "feffffff", 32, 1<<30 - 1, 0, nil},
		{"2^30, the smallest big-mode value", "0300000040", 32, 1 << 30, 0, nil},
		{"u32 max", "03ffffffff", 32, 1<<32 - 1, 0, nil},
		{"u64 max", "13ffffffffffffffff", 64, 1<<64 - 1, 0, nil},
		{"2^64 as u128", "17000000000000000001", 128, 0, 1, nil},
		{"u128 max", "33ffffffffffffffffffffffffffffffff", 128, 1<<64 - 1, 1<<64 - 1, nil},

		{"u8 max", "fd03", 8, 255, 0, nil},
		{"256 does not fit u8", "0104", 8, 0, 0, ErrRange},
		{"65536 does not fit u16", "02000400", 16, 0, 0, ErrRange},
		{"big mode for u16", "03ffffffff", 16, 0, 0, ErrRange},
		{"2^32 does not fit u32", "070000000001", 32, 0, 0, ErrRange},
		{"nine bytes for u64", "17000000000000000001", 64, 0, 0, ErrRange},
		{"67 bytes for u128", "ff" + string(bytes.Repeat([]byte("ff"), 67)), 128, 0, 0, ErrRange},
		{"1 in two bytes", "0500", 16, 0, 0, ErrNonCanonical},
		{"63 in two bytes", "fd00", 16, 0, 0, ErrNonCanonical},
		{"1 in four bytes", "06000000", 32, 0, 0, ErrNonCanonical},
		{"16383 in four bytes", "feff0000", 32, 0, 0, ErrNonCanonical},
		{"2^30-1 in big mode", "03ffffff3f", 64, 0, 0, ErrNonCanonical},
		{"big mode with a zero top byte", "070000004000", 64, 0, 0, ErrNonCanonical},
		{"empty", "", 64, 0, 0, ErrTruncated},
		{"two-byte mode cut", "01", 64, 0, 0, ErrTruncated},
		{"four-byte mode cut", "020000", 64, 0, 0, ErrTruncated},
		{"big mode cut", "13ffffffff", 64, 0, 0, ErrTruncated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(mustHex(t, tc.in))
			var lo, hi uint64
			switch tc.width {
			case 8:
				lo = uint64(d.CompactU8())
			case 16:
				lo = uint64(d.CompactU16())
			case 32:
				lo = uint64(d.CompactU32())
			case 64:
				lo = d.Compact()
			case 128:
				lo, hi = d.CompactU128()
			}
			err := d.Err()
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("got error %v, want %v", err, tc.err)
			}
			if err != nil {
				var se *Error
				if !errors.As(err, &se) || se.Offset != 0 {
					t.Errorf("got %#v, want an *Error at offset 0", err)
				}
				return
			}
			if lo != tc.lo || hi != tc.hi {
				t.Errorf("got %d:%d, want %d:%d", hi, lo, tc.hi, tc.lo)
			}
			if err := d.Finish(); err != nil {
				t.Errorf("Finish: %v (the whole input is one compact)", err)
			}
			if enc := encodeCompact(lo, hi); !bytes.Equal(enc, mustHex(t, tc.in)) {
				t.Errorf("shortest form: got %x, want the input %s", enc, tc.in)
			}
		})
	}
}

func TestFixedAndFlags(t *testing.T) {
	// u8 u16 u32 u64 u128 bool bool option(None) option(Some) account
	in := mustHex(t, "ff"+"3412"+"78563412"+"efcdab8967452301"+
		"0100000000000000ffffffffffffff7f"+"00"+"01"+"00"+"01"+
		"4a7a6cf22af0de8f0c3566ceb47c255da605cf9243f6c1a6433cc782fa610166")
	d := NewDecoder(in)
	if got := d.U8(); got != 0xff {
		t.Errorf("U8: got %#x", got)
	}
	if got := d.U16(); got != 0x1234 {
		t.Errorf("U16: got %#x", got)
	}
	if got := d.U32(); got != 0x12345678 {
		t.Errorf("U32: got %#x", got)
	}
	if got := d.U64(); got != 0x0123456789abcdef {
		t.Errorf("U64: got %#x", got)
	}
	if lo, hi := d.U128(); lo != 1 || hi != 0x7fffffffffffffff {
		t.Errorf("U128: got %#x:%#x", hi, lo)
	}
	if d.Bool() || !d.Bool() {
		t.Errorf("Bool: want false then true")
	}
	if d.Option() || !d.Option() {
		t.Errorf("Option: want None then Some")
	}
	id := d.AccountID()
	if hex.EncodeToString(id[:]) != "4a7a6cf22af0de8f0c3566ceb47c255da605cf9243f6c1a6433cc782fa610166" {
		t.Errorf("AccountID: got %x", id)
	}
	if err := d.Finish(); err != nil {
		t.Errorf("Finish: %v", err)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name   string
		in     string
		read   func(d *Decoder)
		err    error
		offset int
	}{
		{"bool 2", "02", func(d *Decoder) { d.Bool() }, ErrBool, 0},
		{"option tag 2", "0002", func(d *Decoder) { d.Option(); d.Option() }, ErrOption, 1},
		{"u64 cut", "01020304", func(d *Decoder) { d.U64() }, ErrTruncated, 0},
		{"account id cut", "00" + "11", func(d *Decoder) { d.U8(); d.AccountID() }, ErrTruncated, 1},
		{"trailing", "0000", func(d *Decoder) { d.U8(); d.Finish() }, ErrTrailing, 1},
		{"vec length over the rest", "0c0102", func(d *Decoder) { d.ByteVec() }, ErrLength, 0},
		{"vec of accounts over the rest", "08" + string(bytes.Repeat([]byte("00"), 63)), func(d *Decoder) { d.Len(32) }, ErrLength, 0},
		{"huge compact length", "13ffffffffffffffff", func(d *Decoder) { d.Len(1) }, ErrLength, 0},
		{"2^64-1 items of 32 bytes (the product overflows)", "13ffffffffffffffff" + "00", func(d *Decoder) { d.Len(32) }, ErrLength, 0},
		{"first error sticks", "02ff", func(d *Decoder) { d.Bool(); d.U8(); d.Option() }, ErrBool, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(mustHex(t, tc.in))
			tc.read(d)
			err := d.Err()
			var se *Error
			if !errors.Is(err, tc.err) || !errors.As(err, &se) || se.Offset != tc.offset {
				t.Fatalf("got %v, want %v at offset %d", err, tc.err, tc.offset)
			}
			if d.Remaining() != 0 || d.Len(1) != 0 || d.U64() != 0 || d.Bytes(0) != nil {
				t.Errorf("reads after an error: want zero values")
			}
		})
	}
}

func TestLenBounds(t *testing.T) {
	// Three items of at least 2 bytes fit in 6 bytes, not in 5.
	d := NewDecoder(mustHex(t, "0c"+"000000000000"))
	if n := d.Len(2); n != 3 || d.Err() != nil {
		t.Errorf("fits exactly: got %d, %v, want 3", n, d.Err())
	}
	d = NewDecoder(mustHex(t, "0c"+"0000000000"))
	if n := d.Len(2); n != 0 || !errors.Is(d.Err(), ErrLength) {
		t.Errorf("one byte short: got %d, %v, want ErrLength", n, d.Err())
	}
	// A zero or negative item size counts as 1.
	d = NewDecoder(mustHex(t, "08"+"00"))
	if n := d.Len(0); n != 0 || !errors.Is(d.Err(), ErrLength) {
		t.Errorf("item size 0: got %d, %v, want ErrLength", n, d.Err())
	}
	d = NewDecoder(mustHex(t, "0c"+"616263"))
	if got := d.ByteVec(); string(got) != "abc" || d.Finish() != nil {
		t.Errorf("ByteVec: got %q, %v", got, d.Err())
	}
}

// A huge length is refused without allocating.
func TestLenDoesNotAllocate(t *testing.T) {
	in := mustHex(t, "13ffffffffffffffff")
	var d Decoder
	allocs := testing.AllocsPerRun(100, func() {
		d.Reset(in)
		d.Len(32)
	})
	if allocs > 1 { // the *Error itself
		t.Errorf("got %v allocations, want at most 1", allocs)
	}
}

// FuzzCompact checks that a compact decodes only from its shortest form:
// whatever it accepts re-encodes to exactly the bytes it read.
func FuzzCompact(f *testing.F) {
	for _, s := range []string{"035c5a6b98", "2901", "0110", "fc", "0500", "13ffffffffffffffff", "33ffffffffffffffffffffffffffffffff", "070000004000", "ff"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, width := range []int{8, 16, 32, 64, 128} {
			d := NewDecoder(in)
			lo, hi := d.compact(width, "compact")
			if d.Err() != nil {
				if d.Offset() > len(in) {
					t.Fatalf("offset %d past the input", d.Offset())
				}
				continue
			}
			if got := encodeCompact(lo, hi); !bytes.Equal(got, in[:d.Offset()]) {
				t.Fatalf("width %d: %x decoded to %d:%d, which encodes as %x", width, in[:d.Offset()], hi, lo, got)
			}
			if width < 128 && (hi != 0 || (width < 64 && lo>>width != 0)) {
				t.Fatalf("width %d: value %d:%d out of range accepted", width, hi, lo)
			}
		}
	})
}

func BenchmarkCompact(b *testing.B) {
	in := mustHex(b, "04"+"0110"+"035c5a6b98"+"feff0300"+"13ffffffffffffffff")
	var d Decoder
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		d.Reset(in)
		for d.Remaining() > 0 {
			d.Compact()
		}
		if d.Err() != nil {
			b.Fatal(d.Err())
		}
	}
}
