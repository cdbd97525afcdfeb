package validators

import (
	"math"
	"sort"
)

// Sources of validators, from the highest precedence to the lowest. When
// two sources list the same public key, the higher one's entry is used:
// the operator's static word over the nodes file, and the nodes file over
// the chain.
const (
	// SourceStatic is the list given in the config file.
	SourceStatic = "static"
	// SourceNodesFile is Fiber's nodes.json.
	SourceNodesFile = "nodes_file"
	// SourceChain is the list read from a subtensor node.
	SourceChain = "chain"
)

// Validator is one validator allowed to talk to the miner.
type Validator struct {
	// Hotkey is the SS58 address as the source spelled it.
	Hotkey string
	// PublicKey is the decoded hotkey; lookups compare this, never Hotkey,
	// because one key has more than one valid spelling.
	PublicKey [32]byte
	// Stake is the validator's stake as the source gives it.
	Stake float64
	// Source is the source the entry came from: SourceStatic,
	// SourceNodesFile or SourceChain.
	Source string
}

// Set is an immutable list of validators keyed by public key. It is safe
// for concurrent use. The zero Set and a nil *Set are empty.
type Set struct {
	byKey    map[[32]byte]Validator
	maxStake float64
}

// newSet merges layers of validators given from the lowest precedence to
// the highest; a later layer's entry replaces an earlier one's for the same
// key.
func newSet(layers ...[]Validator) *Set {
	n := 0
	for _, l := range layers {
		n += len(l)
	}
	s := &Set{byKey: make(map[[32]byte]Validator, n)}
	for _, l := range layers {
		for _, v := range l {
			s.byKey[v.PublicKey] = v
		}
	}
	s.maxStake = math.Inf(-1)
	for pub, v := range s.byKey {
		if pub != ([32]byte{}) && v.Stake > s.maxStake {
			s.maxStake = v.Stake
		}
	}
	return s
}

// MaxStake returns the highest stake of a validator that can be served
// (the all-zero key never can), and -Inf for an empty set: no validator
// passes a min_stake above it.
func (s *Set) MaxStake() float64 {
	if s == nil || s.byKey == nil {
		return math.Inf(-1)
	}
	return s.maxStake
}

// Lookup returns the validator with public key pub.
func (s *Set) Lookup(pub [32]byte) (Validator, bool) {
	if s == nil {
		return Validator{}, false
	}
	v, ok := s.byKey[pub]
	return v, ok
}

// Len returns the number of validators.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.byKey)
}

// All returns a new slice of every validator, sorted by Hotkey.
func (s *Set) All() []Validator {
	if s == nil {
		return nil
	}
	out := make([]Validator, 0, len(s.byKey))
	for _, v := range s.byKey {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Hotkey < out[j].Hotkey })
	return out
}

// Eligible is the minimum-stake rule, the one place it is written: a
// validator may talk to the miner when its stake is at least min (equal is
// enough, as in Fiber). A NaN stake or minimum refuses.
func Eligible(stake, min float64) bool { return stake >= min }
