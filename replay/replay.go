package replay

import (
	"fmt"
	"math"

	"github.com/fibergate/fibergate/crypto/nonce"
)

// Errors for nonces neither guard can record, refused before anything is
// looked up; they match nonce.ErrMalformed.
var (
	errEmpty   = fmt.Errorf("%w: empty", nonce.ErrMalformed)
	errTooLong = fmt.Errorf("%w: longer than %d bytes", nonce.ErrMalformed, nonce.MaxLen)
)

// satAdd returns a+b for b >= 0, saturating at math.MaxInt64.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
