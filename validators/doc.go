// Package validators keeps the list of validators allowed to talk to the
// miner, with their stake, and answers the proxy's question on every
// request: is this public key a known validator with enough stake? The list
// combines sources by public key, an operator's static entries winning over
// Fiber's nodes.json file, and the file over the metagraph read from a
// subtensor node; it is held as an immutable Set behind an atomic pointer,
// so lookups take no lock. The nodes file is polled and reloaded when it
// changes, the chain is read every few minutes and its last good list kept
// in a cache file; a source that fails to load leaves its last good list in
// place, and a chain list too old to trust can be withdrawn.
package validators
