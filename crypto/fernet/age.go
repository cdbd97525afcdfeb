package fernet

import "errors"

// Sentinel errors of CheckAge.
var (
	// ErrTokenExpired means the token was made more than maxAge ago.
	ErrTokenExpired = errors.New("fernet: token expired")
	// ErrTokenFromFuture means the token's time is more than maxSkew ahead
	// of now.
	ErrTokenFromFuture = errors.New("fernet: token time is in the future")
)

// CheckAge applies Python cryptography's time rule to a token made at
// created (as returned by Decrypt): it returns ErrTokenExpired when
// created+maxAge < now and ErrTokenFromFuture when now+maxSkew < created, nil
// otherwise. All values are seconds; a negative maxAge or maxSkew counts as 0.
// The comparisons cannot overflow, whatever the inputs.
func CheckAge(created, now, maxAge, maxSkew int64) error {
	maxAge, maxSkew = max(maxAge, 0), max(maxSkew, 0)
	// With both limits non-negative at most one rule can fire. The
	// differences are taken as unsigned: when a > b, uint64(a)-uint64(b)
	// is exactly a-b even where a-b overflows int64.
	if now > created && uint64(now)-uint64(created) > uint64(maxAge) {
		return ErrTokenExpired
	}
	if created > now && uint64(created)-uint64(now) > uint64(maxSkew) {
		return ErrTokenFromFuture
	}
	return nil
}
