package nonce

import "errors"

// Errors of a nonce: Parse returns errors that match ErrMalformed under
// errors.Is and say what was wrong in their text, CheckWindow ErrTooOld
// and ErrTooNew; the rest are a replay guard's refusals (package replay),
// which it also returns for the first three.
var (
	// ErrMalformed means the nonce is not `<decimal timestamp>_<suffix>`
	// within MaxLen bytes.
	ErrMalformed = errors.New("malformed nonce")
	// ErrTooOld means the nonce's timestamp is more than the window before
	// the server clock.
	ErrTooOld = errors.New("nonce timestamp too old")
	// ErrTooNew means the nonce's timestamp is more than the window after
	// the server clock.
	ErrTooNew = errors.New("nonce timestamp too far in the future")
	// ErrReplayed means the nonce was already recorded under the same scope
	// and its timestamp has not yet left the window.
	ErrReplayed = errors.New("nonce already used")
	// ErrFull means the guard's memory budget (replay.Memory's) cannot
	// hold another nonce; it refuses to record one until older ones leave
	// the window (it never forgets a live nonce to make room).
	ErrFull = errors.New("nonce guard full")
	// ErrUnavailable means a shared guard (replay.Redis) could not be
	// reached, or a replay.Memory was stopped. Callers must refuse the request: a nonce that
	// cannot be recorded could be replayed.
	ErrUnavailable = errors.New("nonce guard unavailable")
	// ErrUnverifiable means the nonce was stamped at or before the guard's
	// floor: the moment before which the guard cannot show what it
	// accepted (a start without its saved state, a shared guard that lost
	// its data). Such a nonce may have been used, so it is refused; a
	// fresh nonce is accepted once the floor has passed. Errors returned
	// for it are UnverifiableError values.
	ErrUnverifiable = errors.New("nonce stamped before the replay guard's memory begins")
)

// UnverifiableError is the refusal of a nonce stamped at or before Floor
// (unix ns). It matches ErrUnverifiable under errors.Is.
type UnverifiableError struct {
	Floor int64
}

func (e UnverifiableError) Error() string { return ErrUnverifiable.Error() }

func (e UnverifiableError) Is(target error) bool { return target == ErrUnverifiable }

// malformedError names what is wrong with a nonce and matches ErrMalformed.
// The values below are preallocated so Parse never allocates.
type malformedError string

func (e malformedError) Error() string { return "malformed nonce: " + string(e) }

func (e malformedError) Is(target error) bool { return target == ErrMalformed }

var (
	errEmpty       error = malformedError("empty")
	errTooLong     error = malformedError("longer than 128 bytes")
	errNoSuffix    error = malformedError("no _suffix after the timestamp")
	errNoTimestamp error = malformedError("no timestamp before the _")
	errNotDecimal  error = malformedError("timestamp is not decimal digits")
	errLeadingZero error = malformedError("timestamp has a leading zero")
	errOverflow    error = malformedError("timestamp overflows int64")
	errSuffixByte  error = malformedError("suffix holds a byte outside printable ASCII")
)
