package sr25519

import (
	"bytes"
	"encoding/hex"
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
	if _, err := hex.Decode(sig[:], s[2:]); err != nil {
		// hex.Decode stops at the first byte that is not a digit, so that
		// byte's first occurrence is where it stopped.
		at := 2
		var bad hex.InvalidByteError
		if errors.As(err, &bad) {
			at += bytes.IndexByte(s[2:], byte(bad))
		}
		return [SignatureSize]byte{}, fmt.Errorf("parsing signature: %w: non-hex character at index %d", ErrSignatureFormat, at)
	}
	return sig, nil
}
