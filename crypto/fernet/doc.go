// Package fernet implements the Fernet token format that Fiber uses for
// request bodies: URL-safe base64 of a version byte 0x80, a big-endian unix
// timestamp, a random IV, the AES-128-CBC ciphertext of the PKCS#7-padded
// plaintext and an HMAC-SHA256 over everything before it. A Key holds the
// expanded cipher and signing state, so decrypting a token allocates nothing
// beyond the caller's buffer. Decryption is stricter than Python's
// cryptography library (it refuses the standard base64 alphabet, whitespace,
// trailing data and non-canonical base64), and every failure is the single
// error ErrInvalidToken, so a peer cannot learn which check failed.
package fernet
