package nonce

import "time"

// DefaultWindow is Fiber's nonce window: a timestamp may be this far from
// the server clock in either direction.
const DefaultWindow = 120 * time.Second

// CheckWindow reports whether the timestamp ts (unix nanoseconds) is within
// window of now (unix nanoseconds). The bounds are inclusive, as in Fiber:
// ts == now-window and ts == now+window are accepted, one nanosecond further
// is not. It returns ErrTooOld or ErrTooNew, and nil when ts is in the
// window. A negative window is treated as zero. It is exact for every int64
// input (no overflow).
func CheckWindow(ts, now int64, window time.Duration) error {
	w := uint64(max(window, 0))
	switch {
	case ts < now && uint64(now)-uint64(ts) > w:
		return ErrTooOld
	case ts > now && uint64(ts)-uint64(now) > w:
		return ErrTooNew
	}
	return nil
}
