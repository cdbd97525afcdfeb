package nonce

import (
	"bytes"
	"math"
)

// MaxLen is the longest nonce accepted, in bytes. Fiber's client sends 30
// (19 digits, '_', 10 letters and digits); the cap keeps anyone from making
// the guard hash or the logs carry long strings.
const MaxLen = 128

// Parse returns the timestamp, in unix nanoseconds, of a nonce of the form
// `<timestamp>_<suffix>`.
//
// The timestamp is one or more ASCII digits with no sign, no spaces and no
// leading zero (except the single digit "0"), and must fit an int64. The
// suffix is everything after the first '_': one or more bytes of printable
// ASCII (0x21 to 0x7E), so it may itself contain '_'. The whole nonce is at
// most MaxLen bytes.
//
// This accepts everything Fiber's client makes (time.time_ns(), '_', ten
// letters and digits) and is stricter than Fiber's server, which runs
// Python's int() on the part before the first '_' and so also takes a bare
// integer, a sign, surrounding spaces, leading zeros and non-ASCII digits.
// None of those come from a Fiber client, and refusing them keeps one
// timestamp from having many spellings.
//
// Every error matches ErrMalformed. Parse does not allocate and does not
// retain nonce.
func Parse(nonce []byte) (ts int64, err error) {
	if len(nonce) == 0 {
		return 0, errEmpty
	}
	if len(nonce) > MaxLen {
		return 0, errTooLong
	}
	i := bytes.IndexByte(nonce, '_')
	if i < 0 {
		return 0, errNoSuffix
	}
	digits, suffix := nonce[:i], nonce[i+1:]
	if len(digits) == 0 {
		return 0, errNoTimestamp
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, errNotDecimal
		}
	}
	if len(digits) > 1 && digits[0] == '0' {
		return 0, errLeadingZero
	}
	for _, c := range digits {
		d := int64(c - '0')
		if ts > (math.MaxInt64-d)/10 {
			return 0, errOverflow
		}
		ts = ts*10 + d
	}
	if len(suffix) == 0 {
		return 0, errNoSuffix
	}
	for _, c := range suffix {
		if c < 0x21 || c > 0x7e {
			return 0, errSuffixByte
		}
	}
	return ts, nil
}
