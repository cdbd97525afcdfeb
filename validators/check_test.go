package validators

import "errors"

// The tests look validators up as the proxy decides on them: listed, and
// eligible by the minimum-stake rule (Eligible).
var (
	// ErrUnknown means the key is not in the list (or is the all-zero key,
	// which is never accepted).
	ErrUnknown = errors.New("validator not in the validator list")
	// ErrLowStake means the validator's stake is below the minimum.
	ErrLowStake = errors.New("validator stake below the minimum")
)

// Check returns the validator with public key pub if it may talk to the
// miner: it is in the list and Eligible with minStake. Otherwise it
// returns ErrUnknown (with the zero Validator) or ErrLowStake (with the
// validator found). The all-zero key is always ErrUnknown.
func (r *Registry) Check(pub [32]byte, minStake float64) (Validator, error) {
	if pub == ([32]byte{}) {
		return Validator{}, ErrUnknown
	}
	v, ok := r.set.Load().Lookup(pub)
	if !ok {
		return Validator{}, ErrUnknown
	}
	if !Eligible(v.Stake, minStake) {
		return v, ErrLowStake
	}
	return v, nil
}
