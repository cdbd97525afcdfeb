// Package nonce parses Fiber nonces and checks their timestamps against
// the server clock; it also names what a replay guard is given and what it
// answers, so that the guards (package replay) and the proxy share them
// without the proxy depending on a store.
//
// A nonce is `<unix time in nanoseconds>_<suffix>`. [Parse] reads the
// timestamp and [CheckWindow] compares it with the server clock. A
// [Record] is one nonce to remember under its [Scope] (the signer and the
// [Kind]: the header's nonce or the body's), and the errors here are a
// guard's refusals: [ErrReplayed], [ErrFull], [ErrUnavailable] and
// [ErrUnverifiable] (an [UnverifiableError]), beside the window's
// [ErrTooOld] and [ErrTooNew] and the parser's [ErrMalformed].
//
// Nothing here keeps state: the guards that remember nonces are
// replay.Memory and replay.Redis.
package nonce
