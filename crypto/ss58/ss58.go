package ss58

import (
	"fmt"
	"math/bits"

	"github.com/mr-tron/base58"
	"golang.org/x/crypto/blake2b"
)

// Bittensor is the SS58 network prefix Bittensor uses for its addresses.
const Bittensor uint16 = 42

// MaxPrefix is the largest prefix the two-byte SS58 form can carry.
const MaxPrefix uint16 = 16383

const (
	pubKeySize   = 32
	checksumSize = 2
	// minDecoded and maxDecoded are the decoded sizes of an address with a
	// one- and a two-byte prefix.
	minDecoded = 1 + pubKeySize + checksumSize
	maxDecoded = 2 + pubKeySize + checksumSize
	// maxEncoded is the longest base58 spelling of maxDecoded bytes:
	// 58^50 > 2^288. Longer input cannot be an address and is refused before
	// any arithmetic, which keeps the cost of hostile input bounded.
	maxEncoded = 50
	// limbs is the number of 64-bit words of the decoding accumulator; 5
	// words hold any 50-digit base58 number (58^50 < 2^320).
	limbs = 5
	// group digits are folded into the accumulator at a time; 58^10 < 2^64.
	group = 10
)

var checksumPrefix = [7]byte{'S', 'S', '5', '8', 'P', 'R', 'E'}

// base58Digit maps a byte to its base58 value, or 0xff when it is not in the
// Bitcoin alphabet that SS58 uses.
var base58Digit = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// Decode parses an SS58 address of a 32-byte account id and returns the
// account id and its network prefix. Any non-reserved prefix is accepted, in
// the canonical or the two-byte form; callers that need a particular network
// compare prefix themselves. Decode allocates only on failure.
func Decode(addr string) (pub [32]byte, prefix uint16, err error) {
	return decode(addr)
}

// DecodeBytes is Decode for an address held in a byte slice, such as a
// header value from a request buffer. It does not retain addr.
func DecodeBytes(addr []byte) (pub [32]byte, prefix uint16, err error) {
	return decode(addr)
}

func decode[S string | []byte](addr S) (pub [32]byte, prefix uint16, err error) {
	var raw [maxDecoded]byte
	n, err := base58Decode(addr, &raw)
	if err != nil {
		return pub, 0, err
	}
	d := raw[maxDecoded-n:]

	prefixLen := 1
	switch {
	case d[0]&0x80 != 0:
		return pub, 0, fmt.Errorf("decoding ss58 address: %w: first byte %#02x", ErrPrefix, d[0])
	case d[0]&0x40 != 0:
		prefixLen = 2
		prefix = uint16(d[0]&0x3f)<<2 | uint16(d[1]>>6) | uint16(d[1]&0x3f)<<8
	default:
		prefix = uint16(d[0])
	}
	if n != prefixLen+pubKeySize+checksumSize {
		return pub, 0, fmt.Errorf("decoding ss58 address: %w: %d bytes with a %d-byte prefix",
			ErrLength, n, prefixLen)
	}
	if reserved(prefix) {
		return pub, 0, fmt.Errorf("decoding ss58 address: %w: %d", ErrPrefix, prefix)
	}
	sum := checksum(d[:n-checksumSize])
	if sum[0] != d[n-2] || sum[1] != d[n-1] {
		return pub, 0, fmt.Errorf("decoding ss58 address: %w", ErrChecksum)
	}
	copy(pub[:], d[prefixLen:])
	return pub, prefix, nil
}

// base58Decode decodes addr into the tail of dst and returns the decoded
// length, which is minDecoded or maxDecoded. Every other length is ErrLength.
func base58Decode[S string | []byte](addr S, dst *[maxDecoded]byte) (int, error) {
	switch {
	case len(addr) == 0:
		return 0, fmt.Errorf("decoding ss58 address: %w", ErrEmpty)
	case len(addr) >= 2 && addr[0] == '0' && (addr[1] == 'x' || addr[1] == 'X'):
		return 0, fmt.Errorf("decoding ss58 address: %w", ErrHex)
	case len(addr) > maxEncoded:
		return 0, fmt.Errorf("decoding ss58 address: %w: %d characters", ErrLength, len(addr))
	}

	// Leading '1's stand for leading zero bytes.
	zeros := 0
	for zeros < len(addr) && addr[zeros] == '1' {
		zeros++
	}

	// Fold the digits into acc a group at a time; the first group takes the
	// remainder so the others are full.
	var acc [limbs]uint64 // little-endian words
	i := zeros
	next := zeros + (len(addr)-zeros)%group
	if next == zeros {
		next += group
	}
	for i < len(addr) {
		var chunk, mul uint64 = 0, 1
		for ; i < next; i++ {
			v := base58Digit[addr[i]]
			if v == 0xff {
				return 0, fmt.Errorf("decoding ss58 address: %w %q at index %d", ErrAlphabet, addr[i], i)
			}
			chunk = chunk*58 + uint64(v)
			mul *= 58
		}
		carry := chunk
		for j := range acc {
			hi, lo := bits.Mul64(acc[j], mul)
			lo, c := bits.Add64(lo, carry, 0)
			acc[j] = lo
			carry = hi + c
		}
		next += group
	}

	// Length of the number without its leading zero bytes.
	numLen := 0
	for j := limbs - 1; j >= 0; j-- {
		if w := acc[j]; w != 0 {
			numLen = 8*j + 8 - bits.LeadingZeros64(w)/8
			break
		}
	}
	n := zeros + numLen
	if n != minDecoded && n != maxDecoded {
		return 0, fmt.Errorf("decoding ss58 address: %w: %d bytes", ErrLength, n)
	}
	// The number's bytes fill the tail of dst; the zero bytes before them
	// are the ones the leading '1's stand for.
	for k := 0; k < numLen; k++ {
		dst[maxDecoded-1-k] = byte(acc[k/8] >> (8 * (k % 8)))
	}
	return n, nil
}

func reserved(prefix uint16) bool {
	return prefix == 46 || prefix == 47 || prefix > MaxPrefix
}

// checksum returns BLAKE2b-512("SS58PRE" || data), of which SS58 uses the
// first two bytes.
func checksum(data []byte) [blake2b.Size]byte {
	var buf [len(checksumPrefix) + maxDecoded - checksumSize]byte
	n := copy(buf[:], checksumPrefix[:])
	n += copy(buf[n:], data)
	return blake2b.Sum512(buf[:n])
}

// Encode returns the canonical SS58 address of pub under prefix: one prefix
// byte for prefixes up to 63, two above. It returns the empty string when
// prefix is reserved (46, 47) or above MaxPrefix, since no address exists for
// it.
func Encode(pub [32]byte, prefix uint16) string {
	if reserved(prefix) {
		return ""
	}
	var buf [maxDecoded]byte
	n := 0
	if prefix < 64 {
		buf[0] = byte(prefix)
		n = 1
	} else {
		buf[0] = byte((prefix&0xfc)>>2) | 0x40
		buf[1] = byte(prefix>>8) | byte((prefix&0x03)<<6)
		n = 2
	}
	n += copy(buf[n:], pub[:])
	sum := checksum(buf[:n])
	n += copy(buf[n:], sum[:checksumSize])
	return base58.Encode(buf[:n])
}
