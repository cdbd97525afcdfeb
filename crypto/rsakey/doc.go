// Package rsakey holds the miner's RSA key for Fiber's handshake: it makes,
// loads and saves the private key, serves the public half as the
// SubjectPublicKeyInfo PEM that GET /public-encryption-key returns, and
// unwraps the 32-byte symmetric key a validator sends to POST
// /exchange-symmetric-key, encrypted with RSA-OAEP (SHA-256, MGF1-SHA-256,
// no label). Decryption is stricter than Go's crypto/rsa in the way Python's
// cryptography is: the ciphertext must be exactly the key size, and the
// plaintext must be exactly 32 bytes; every decryption failure is the same
// ErrDecrypt, so a peer learns nothing from which check failed.
package rsakey
