// Package keystore holds the Fernet keys validators hand the miner in the
// symmetric-key exchange, keyed by the validator's public key and the uuid
// the validator chose. Store is the interface the proxy reads and writes;
// Memory is its in-process implementation, sharded by validator so reads
// never take a global lock, with per-entry expiry (Fiber keeps a key for five
// hours) and a per-validator cap. The snapshot functions and Persister keep
// the keys across restarts in a file encrypted as one Fernet token under a
// storage key that never sits on disk beside it; the memory replay guard's
// state (replay.Memory's) is kept beside it the same way (SaveGuardState).
// Redis is the implementation
// that replicas share: every entry sealed under the same storage key in
// Redis, the cap held across replicas, and a local read-through cache kept
// coherent by publications and a generation counter.
package keystore
