package loadgen

import (
	"fmt"
	"io"
	"strconv"
	"time"
)

// nonceAlphabet is the alphabet of the random suffix of Fiber's nonces.
const nonceAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// nonceSuffixLen is the length of the random suffix, as in Fiber's client.
const nonceSuffixLen = 10

// appendNonce appends a Fiber nonce for time t to dst: the unix time in
// nanoseconds, '_', and nonceSuffixLen letters and digits chosen by the
// first nonceSuffixLen bytes of rnd (the same mapping as client.Nonce).
func appendNonce(dst []byte, t time.Time, rnd []byte) []byte {
	dst = strconv.AppendInt(dst, t.UnixNano(), 10)
	dst = append(dst, '_')
	for _, b := range rnd[:nonceSuffixLen] {
		dst = append(dst, nonceAlphabet[int(b)%len(nonceAlphabet)])
	}
	return dst
}

// randomBytes reads n bytes from r.
func randomBytes(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("loadgen: reading random bytes: %w", err)
	}
	return b, nil
}
