package chain

import (
	"errors"
	"fmt"
)

// Runtime spec versions whose answers this package can decode. The wire
// layouts come from the subtensor source and recorded metadata of these
// specs, and are checked against recorded answers of specs 208, 315, 320
// and 343.
const (
	// LiteWrappedFirst to LiteWrappedLast return get_neurons_lite as an
	// opaque Vec<u8> holding the SCALE Vec<NeuronInfoLite> (wrapped twice).
	LiteWrappedFirst = 205
	LiteWrappedLast  = 219
	// LiteDirectFirst and later return Vec<NeuronInfoLite> directly
	// (subtensor v2.0.0, the dTAO launch). Specs 220 to 232 are unknown.
	LiteDirectFirst = 233
	// MetagraphFirst is the first spec whose get_metagraph layout is known
	// (SubnetIdentityV3 in the identity field; spec 233 had V2 and the
	// switch in between is not recorded).
	MetagraphFirst = 315
	// NewestKnown is the newest spec whose layouts are known: the
	// NeuronInfoLite and Metagraph wire layouts did not change from 315 to
	// it, apart from trust no longer being computed (zero, or an empty
	// vector) and activity_cutoff widening to a u64 compact, which the
	// decoder reads as such throughout.
	NewestKnown = 425
)

// ErrUnsupportedRuntime means the node runs a runtime spec whose layout for
// the call is not known. It is wrapped in a *RuntimeError.
var ErrUnsupportedRuntime = errors.New("unsupported runtime version")

// RuntimeError names the runtime spec that was refused and what is known.
type RuntimeError struct {
	// Spec is the node's runtime spec version.
	Spec uint32
	// Call is the runtime API call that has no known layout there.
	Call string
	// Supported describes the spec versions that are.
	Supported string
}

func (e *RuntimeError) Error() string {
	return fmt.Sprintf("%v: %s at runtime spec %d is not a known layout (supported: %s)",
		ErrUnsupportedRuntime, e.Call, e.Spec, e.Supported)
}

func (e *RuntimeError) Unwrap() error { return ErrUnsupportedRuntime }

// liteWrapped reports whether get_neurons_lite at spec answers with the
// Vec<u8> wrapper. allowNewer reads a spec newer than NewestKnown with the
// newest known layout.
func liteWrapped(spec uint32, allowNewer bool) (bool, error) {
	switch {
	case spec >= LiteWrappedFirst && spec <= LiteWrappedLast:
		return true, nil
	case spec >= LiteDirectFirst && (spec <= NewestKnown || allowNewer):
		return false, nil
	}
	return false, &RuntimeError{Spec: spec, Call: liteCall,
		Supported: fmt.Sprintf("%d-%d and %d-%d", LiteWrappedFirst, LiteWrappedLast, LiteDirectFirst, NewestKnown)}
}

// metagraphKnown returns an error unless get_metagraph's layout at spec is
// known.
func metagraphKnown(spec uint32, allowNewer bool) error {
	if spec >= MetagraphFirst && (spec <= NewestKnown || allowNewer) {
		return nil
	}
	return &RuntimeError{Spec: spec, Call: metagraphCall,
		Supported: fmt.Sprintf("%d-%d; use the fiber_2_1 stake rule on older runtimes", MetagraphFirst, NewestKnown)}
}
