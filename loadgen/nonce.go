package loadgen

import (
	"fmt"
	"io"

	"github.com/fibergate/fibergate/client"
)

// nonceSuffixLen is the length of the random suffix, as in Fiber's client.
const nonceSuffixLen = client.NonceSuffixLen

// randomBytes reads n bytes from r.
func randomBytes(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("loadgen: reading random bytes: %w", err)
	}
	return b, nil
}
