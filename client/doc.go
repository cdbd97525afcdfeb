// Package client is the validator side of the Fiber protocol: it fetches a
// miner's RSA key, exchanges a fresh Fernet key, and sends signed,
// encrypted requests (plain, streamed or Fiber 2.x signed mode), decrypting
// responses that come back encrypted. It works against any Fiber server,
// fibergate or Fiber's own, and is what `fibergate client` and `fibergate
// bench` are built on.
package client
