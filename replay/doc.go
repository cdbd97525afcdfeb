// Package replay holds the replay guards: the stores that remember which
// nonces were used, so that a signed request cannot be replayed while its
// nonce could still be accepted. Both implement the interface the proxy
// takes for its replay guard (Remember, RememberPair, Len), with the
// scopes, records and refusals of crypto/nonce, and hold the same rule: a
// nonce is accepted only if the guard can show it unused. They live apart
// from crypto/, which holds what is pure (parsing a nonce, the window).
//
// [Memory] is the guard of one process (keystore.backend memory). It
// records each nonce until its own timestamp has left the window (ts +
// window), not for a fixed time after first sight: a nonce stamped 119 s
// in the future is refused as a replay for the whole 239 s during which
// its timestamp is acceptable. Memory is bounded three ways.
// [MemoryOptions.MaxMemory] is a budget in bytes, and a Memory never holds
// more: when a nonce would not fit, [Memory.Remember] refuses it
// (nonce.ErrFull) rather than forget a live nonce early; [RateCovered]
// says what steady rate a budget serves (the default 64 MiB covers about
// 19,500 Fiber requests a second with the 120 s window). Remember refuses
// timestamps outside the window, so no entry lives longer than 2×window
// after it was recorded (1×window for a nonce stamped at the server's own
// time). And callers record a nonce only after its request's signature
// has been verified against the hotkey of a staked validator, so only
// those validators can add entries at all.
//
// Each entry of a Memory is a 64-bit keyed hash of (hotkey, kind, nonce)
// in an open-addressing table of the nonces stamped in the same second
// (2^30 ns); a second's table is dropped whole once that second has left
// the window, and its memory serves a later second.
// BenchmarkMemorySteadyRate measures about 12 bytes per remembered nonce
// at fibergate's rates, everything the guard holds included.
//
// What a Memory cannot show is what came before it: it has a floor, and
// refuses every nonce stamped at or before it (nonce.ErrUnverifiable). A
// Memory that follows another keeps everything: Stop, Snapshot and
// Restore carry its nonces across a clean restart. One that follows a
// crash knows only the horizon its predecessor recorded
// ([MemoryOptions.Horizon]: no nonce is accepted stamped after a horizon
// not yet recorded), and takes it as its floor.
//
// [Redis] is the guard replicas share through Redis (keystore.backend
// redis): a nonce accepted by any replica is refused by all of them until
// its timestamp leaves the window. Each nonce is a 64-bit member of a
// small set of the nonces stamped in the same second, which expires whole
// when that second leaves the window; recording a request's nonces is one
// script, one round trip, so two replicas receiving the same nonce at the
// same moment cannot both accept it. Redis failures are refusals
// (nonce.ErrUnavailable), never acceptances, and so is Redis losing the
// nonces (a flush, a restart, eviction): a floor key that every script
// reads tells, and nonces stamped before the loss are refused as
// unverifiable.
package replay
