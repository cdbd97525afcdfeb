package loadgen

import (
	"crypto/sha256"
	"fmt"
	"strconv"

	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/crypto/ss58"
)

// DefaultSeedPrefix is the prefix of the simulated validators' seed strings.
const DefaultSeedPrefix = "fibergate-bench-validator-"

// intruderPrefix is the prefix of the seed strings of the keys flood mode
// signs with that are in no validator list.
const intruderPrefix = "fibergate-bench-intruder-"

// ValidatorSeed returns the sr25519 mini-secret of simulated validator i
// under prefix: the SHA-256 of the ASCII string prefix followed by i in
// decimal, e.g. sha256("fibergate-bench-validator-0") for the first one under
// DefaultSeedPrefix. Anyone can derive these keys: they are for benchmarks
// only, never for a real subnet.
func ValidatorSeed(prefix string, i int) [32]byte {
	return sha256.Sum256([]byte(prefix + strconv.Itoa(i)))
}

// ValidatorKey returns the keypair of simulated validator i under prefix.
func ValidatorKey(prefix string, i int) (*sr25519.Keypair, error) {
	kp, err := sr25519.KeypairFromSeed(ValidatorSeed(prefix, i))
	if err != nil {
		return nil, fmt.Errorf("loadgen: validator %d key: %w", i, err)
	}
	return kp, nil
}

// identity is a signing key with its SS58 address, ready for headers.
type identity struct {
	kp     *sr25519.Keypair
	hotkey []byte // SS58, prefix 42
}

// identities derives the keys of n validators under prefix.
func identities(prefix string, n int) ([]identity, error) {
	out := make([]identity, n)
	for i := range out {
		kp, err := ValidatorKey(prefix, i)
		if err != nil {
			return nil, err
		}
		out[i] = identity{kp: kp, hotkey: []byte(ss58.Encode(kp.Public(), ss58.Bittensor))}
	}
	return out, nil
}
