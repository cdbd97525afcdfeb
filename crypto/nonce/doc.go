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
// Memory is bounded three ways. [Options.MaxMemory] is a budget in bytes,
// and a Guard never holds more: when a nonce would not fit,
// [Guard.Remember] refuses it ([ErrFull]) rather than forget a live nonce
// early; [RateCovered] says what steady rate a budget serves (the default
// 64 MiB covers about 19,500 Fiber requests a second with the 120 s
// window). Remember refuses timestamps outside the window, so no entry
// lives longer than 2×window after it was recorded (1×window for a nonce
// stamped at the server's own time). And callers record a nonce only after
// its request's signature has been verified against the hotkey of a staked
// validator, so only those validators can add entries at all.
//
// Each entry is a 64-bit keyed hash of (hotkey, kind, nonce) in an
// open-addressing table of the nonces stamped in the same second (2^30 ns);
// a second's table is dropped whole once that second has left the window,
// and its memory serves a later second. BenchmarkSteadyRate measures about
// 12 bytes per remembered nonce at fibergate's rates, everything the guard
// holds included.
//
// A Guard accepts a nonce only if it can show it unused. What it cannot
// show is what came before it: a Guard has a floor, and refuses every
// nonce stamped at or before it ([ErrUnverifiable]). A Guard that follows
// another keeps everything: Stop, Snapshot and Restore carry its nonces
// across a clean restart. One that follows a crash knows only the horizon
// its predecessor recorded ([Options.Horizon]: no nonce is accepted
// stamped after a horizon not yet recorded), and takes it as its floor.
package nonce
