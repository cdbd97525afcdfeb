package scale

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Sentinel errors, wrapped in an *Error that says where decoding stopped.
var (
	// ErrTruncated means the input ended inside a value.
	ErrTruncated = errors.New("input ends inside a value")
	// ErrLength means a vector's compact length cannot fit in the bytes
	// that remain, given the smallest size of one item.
	ErrLength = errors.New("length larger than the remaining input")
	// ErrRange means a compact integer is too large for its type.
	ErrRange = errors.New("compact integer out of range for its type")
	// ErrNonCanonical means a compact integer uses a longer mode or more
	// bytes than its value needs; the Rust codec refuses those.
	ErrNonCanonical = errors.New("compact integer not in its shortest form")
	// ErrBool means a bool byte is neither 0 nor 1.
	ErrBool = errors.New("bool byte is neither 0 nor 1")
	// ErrOption means an Option tag is neither 0 (None) nor 1 (Some).
	ErrOption = errors.New("option tag is neither 0 nor 1")
	// ErrTrailing means bytes remain after the value that should have
	// used them all.
	ErrTrailing = errors.New("bytes left after the value")
)

// Error says what went wrong and at which byte offset of the input.
type Error struct {
	// Offset is where the value that failed to decode starts.
	Offset int
	// What names the value being decoded, such as "compact" or "bool".
	What string
	// Err is one of the sentinel errors.
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("scale: decoding %s at offset %d: %v", e.What, e.Offset, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Decoder reads SCALE values from a byte slice. Its error is sticky: after
// the first failure every read returns a zero value and Len returns 0, so
// a decoding loop ends without checking each read, and Err reports the
// first failure. A Decoder is not safe for concurrent use. It never copies
// the input; slices it returns alias it.
type Decoder struct {
	b   []byte
	off int
	err *Error
}

// NewDecoder returns a Decoder reading b from the start.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Reset makes d read b from the start, with no error.
func (d *Decoder) Reset(b []byte) { *d = Decoder{b: b} }

// Err returns the first error met, or nil.
func (d *Decoder) Err() error {
	if d.err == nil {
		return nil
	}
	return d.err
}

// Offset returns how many bytes have been read.
func (d *Decoder) Offset() int { return d.off }

// Remaining returns how many bytes are left to read; 0 after an error.
func (d *Decoder) Remaining() int {
	if d.err != nil {
		return 0
	}
	return len(d.b) - d.off
}

// Finish records ErrTrailing if bytes remain, and returns Err.
func (d *Decoder) Finish() error {
	if d.err == nil && d.off != len(d.b) {
		d.fail(d.off, "end of input", ErrTrailing)
	}
	return d.Err()
}

// Fail records err at offset off unless an error is already recorded. It
// lets callers decoding a larger structure report their own checks (a
// value out of its allowed set) the same way.
func (d *Decoder) Fail(off int, what string, err error) { d.fail(off, what, err) }

func (d *Decoder) fail(off int, what string, err error) {
	if d.err == nil {
		d.err = &Error{Offset: off, What: what, Err: err}
	}
}

// take returns the next n bytes, or nil after recording ErrTruncated.
func (d *Decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.fail(d.off, what, ErrTruncated)
		return nil
	}
	p := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return p
}

// Bytes returns the next n bytes. The slice aliases the input.
func (d *Decoder) Bytes(n int) []byte { return d.take(n, "bytes") }

// Skip advances past n bytes.
func (d *Decoder) Skip(n int) { d.take(n, "bytes") }

// U8 reads one byte.
func (d *Decoder) U8() uint8 {
	p := d.take(1, "u8")
	if p == nil {
		return 0
	}
	return p[0]
}

// U16 reads a little-endian u16.
func (d *Decoder) U16() uint16 {
	p := d.take(2, "u16")
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(p)
}

// U32 reads a little-endian u32.
func (d *Decoder) U32() uint32 {
	p := d.take(4, "u32")
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(p)
}

// U64 reads a little-endian u64.
func (d *Decoder) U64() uint64 {
	p := d.take(8, "u64")
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(p)
}

// U128 reads a little-endian u128 as its low and high 64-bit halves. An
// i128 reads the same way; its sign is the top bit of hi.
func (d *Decoder) U128() (lo, hi uint64) {
	p := d.take(16, "u128")
	if p == nil {
		return 0, 0
	}
	return binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:])
}

// Bool reads a bool: the byte 0 or 1.
func (d *Decoder) Bool() bool {
	off := d.off
	p := d.take(1, "bool")
	if p == nil {
		return false
	}
	switch p[0] {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail(off, "bool", ErrBool)
	return false
}

// Option reads an Option tag and reports whether a value (Some) follows.
func (d *Decoder) Option() bool {
	off := d.off
	p := d.take(1, "option tag")
	if p == nil {
		return false
	}
	switch p[0] {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail(off, "option tag", ErrOption)
	return false
}

// AccountID reads a 32-byte AccountId32.
func (d *Decoder) AccountID() (id [32]byte) {
	p := d.take(32, "account id")
	if p != nil {
		copy(id[:], p)
	}
	return id
}

// Compact reads a compact integer of at most 64 bits.
func (d *Decoder) Compact() uint64 {
	lo, _ := d.compact(64, "compact")
	return lo
}

// CompactU8 reads a Compact<u8>.
func (d *Decoder) CompactU8() uint8 {
	lo, _ := d.compact(8, "compact u8")
	return uint8(lo)
}

// CompactU16 reads a Compact<u16>.
func (d *Decoder) CompactU16() uint16 {
	lo, _ := d.compact(16, "compact u16")
	return uint16(lo)
}

// CompactU32 reads a Compact<u32>.
func (d *Decoder) CompactU32() uint32 {
	lo, _ := d.compact(32, "compact u32")
	return uint32(lo)
}

// CompactU128 reads a Compact<u128> as its low and high 64-bit halves.
func (d *Decoder) CompactU128() (lo, hi uint64) {
	return d.compact(128, "compact u128")
}

// compact reads a compact integer that must fit in width bits (8, 16, 32,
// 64 or 128) and be in its shortest form.
func (d *Decoder) compact(width int, what string) (lo, hi uint64) {
	if d.err != nil {
		return 0, 0
	}
	off := d.off
	if off >= len(d.b) {
		d.fail(off, what, ErrTruncated)
		return 0, 0
	}
	b0 := d.b[off]
	size := [4]int{1, 2, 4, int(b0>>2) + 5}[b0&3] // big mode: 4 to 67 bytes follow
	if b0&3 == 3 && size-1 > width/8 {
		// More bytes than the type has: either the value does not fit,
		// or the top bytes are zero and the form is not the shortest.
		// The Rust codec calls both out of range.
		d.fail(off, what, ErrRange)
		return 0, 0
	}
	p := d.take(size, what)
	if p == nil {
		return 0, 0
	}
	var floor uint64 // the least value that needs this mode
	switch b0 & 3 {
	case 0:
		return uint64(b0 >> 2), 0
	case 1:
		lo, floor = uint64(binary.LittleEndian.Uint16(p))>>2, 1<<6
	case 2:
		lo, floor = uint64(binary.LittleEndian.Uint32(p))>>2, 1<<14
	default:
		q := p[1:]
		if q[len(q)-1] == 0 {
			d.fail(off, what, ErrNonCanonical)
			return 0, 0
		}
		for i := min(len(q), 8) - 1; i >= 0; i-- {
			lo = lo<<8 | uint64(q[i])
		}
		for i := len(q) - 1; i >= 8; i-- {
			hi = hi<<8 | uint64(q[i])
		}
		floor = 1 << 30
	}
	switch {
	case hi == 0 && lo < floor:
		d.fail(off, what, ErrNonCanonical)
		return 0, 0
	case width < 64 && lo>>width != 0:
		d.fail(off, what, ErrRange)
		return 0, 0
	}
	return lo, hi
}

// Len reads the compact length of a vector whose items take at least
// minItem bytes each (at least 1), and returns it only if that many items
// can fit in the bytes that remain; otherwise it records ErrLength and
// returns 0. Callers may allocate the returned length at once.
func (d *Decoder) Len(minItem int) int {
	off := d.off
	n := d.Compact()
	if d.err != nil {
		return 0
	}
	minItem = max(minItem, 1)
	rem := uint64(len(d.b) - d.off)
	if hi, lo := bits.Mul64(n, uint64(minItem)); hi != 0 || lo > rem || n > math.MaxInt32 {
		d.fail(off, "vector length", ErrLength)
		return 0
	}
	return int(n)
}

// ByteVec reads a Vec<u8>: a compact length, then that many bytes. The
// slice aliases the input.
func (d *Decoder) ByteVec() []byte {
	n := d.Len(1)
	return d.take(n, "byte vector")
}
