// Package nonce parses Fiber nonces, checks their timestamps against the
// server clock and remembers the ones already used, so that a signed request
// cannot be replayed while its nonce could still be accepted.
//
// A nonce is `<unix time in nanoseconds>_<suffix>`. [Parse] reads the
// timestamp, [CheckWindow] compares it with the server clock, and a [Guard]
// records each nonce until its own timestamp has left the window (ts +
// window), not for a fixed time after first sight: a nonce stamped 119 s in
// the future is refused as a replay for the whole 239 s during which its
// timestamp is acceptable.
//
// Memory is bounded three ways. [Options.MaxEntries] caps the number of
// entries, and at the cap [Guard.Remember] refuses ([ErrFull]) rather than
// forget a live nonce early. Remember refuses timestamps outside the window,
// so no entry lives longer than 2×window after it was recorded (1×window for
// a nonce stamped at the server's own time). And callers record a nonce only
// after its request's signature has been verified against the hotkey of a
// staked validator, so only those validators can add entries at all. Each
// entry is a 16-byte keyed hash of (hotkey, kind, nonce) plus an 8-byte
// expiry in a Go map; BenchmarkMemoryPerMillion measures the whole cost,
// map overhead included, at about 56 bytes per entry (it varies with how
// full the map's tables happen to be).
package nonce
