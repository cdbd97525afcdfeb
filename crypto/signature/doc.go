// Package signature is the one place the proxy checks a hotkey's signature
// over a request. A Verifier is built once per hotkey and checks sr25519
// (schnorrkel, context "substrate") signatures as a Fiber server does, with
// the "<Bytes>" retry; when the operator enables it, it also checks Ed25519
// signatures (RFC 8032 with the same retry, as substrate-interface does for
// ed25519 keypairs), refusing small-order Ed25519 keys that anyone could
// forge for.
package signature
