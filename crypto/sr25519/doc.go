// Package sr25519 verifies and makes the sr25519 (schnorrkel) signatures with
// which Bittensor hotkeys sign Fiber request headers, under the signing
// context "substrate". Verification follows what an unmodified Fiber server
// accepts (a plain verify, then one retry over the "<Bytes>" wrapping that
// browser signers add), except where that is unsafe: the all-zero identity
// key, which Rust schnorrkel lets anyone forge for, is refused outright, and
// signatures must carry schnorrkel's marker bit and be given as exactly 0x
// and 128 hex digits. Keypair signs for validator-side clients and tests.
//
// Verification is schnorrkel's, on curve25519-voi's arithmetic, with a
// table of the key's multiples precomputed when a PublicKey is decoded
// (voi's expanded point form), so a verification by a kept key allocates
// nothing. The tests hold it to curve25519-voi's own PublicKey.Verify and
// to go-schnorrkel on every vector and under fuzzing.
package sr25519
