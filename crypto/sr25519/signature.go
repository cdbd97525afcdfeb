package sr25519

import (
	"errors"
	"fmt"
)

// SignatureSize is the length of an sr25519 signature in bytes.
const SignatureSize = 64

// ErrSignatureFormat means a signature header is not "0x" followed by exactly
// 128 hex digits.
var ErrSignatureFormat = errors.New("signature is not 0x and 128 hex digits")

// ParseSignature decodes a signature written as "0x" followed by exactly 128
// hex digits of either case, as Fiber sends it. Anything else, including a
// signature of another length, "0X", whitespace or a missing prefix, is
// ErrSignatureFormat: nothing is padded or truncated. ParseSignature does not
// allocate on success and does not retain s.
func ParseSignature(s []byte) (sig [SignatureSize]byte, err error) {
	if len(s) != 2+2*SignatureSize {
		return sig, fmt.Errorf("parsing signature: %w: %d characters", ErrSignatureFormat, len(s))
	}
	if s[0] != '0' || s[1] != 'x' {
		return sig, fmt.Errorf("parsing signature: %w: missing 0x", ErrSignatureFormat)
	}
	for i := range sig {
		hi, ok1 := unhex(s[2+2*i])
		lo, ok2 := unhex(s[3+2*i])
		if !ok1 || !ok2 {
			return [SignatureSize]byte{}, fmt.Errorf("parsing signature: %w: non-hex character near index %d",
				ErrSignatureFormat, 2+2*i)
		}
		sig[i] = hi<<4 | lo
	}
	return sig, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
