// Package sr25519 verifies and makes the sr25519 (schnorrkel) signatures with
// which Bittensor hotkeys sign Fiber request headers, under the signing
// context "substrate". Verification follows what an unmodified Fiber server
// accepts (a plain verify, then one retry over the "<Bytes>" wrapping that
// browser signers add), except where that is unsafe: the all-zero identity
// key, which Rust schnorrkel lets anyone forge for, is refused outright, and
// signatures must carry schnorrkel's marker bit and be given as exactly 0x
// and 128 hex digits. Keypair signs for validator-side clients and tests.
package sr25519
