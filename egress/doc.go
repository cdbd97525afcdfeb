// Package egress is the validator's half of fibergate: a sidecar that takes
// plain HTTP + JSON from the validator's own code on loopback, naming a
// miner, and speaks Fiber to that miner as Fiber's validator client does.
// It finds the miner's address (a static list, Fiber's nodes.json, or the
// chain's axons), exchanges one symmetric key per miner and shares it among
// every request to that miner, signs and encrypts each request (or signs
// it only, Fiber's light flavour), and relays the miner's answer back in
// plain, decrypting fibergate's encrypted answers and streaming line by
// line as lines arrive. Its own errors carry X-Fibergate-Error and a stable
// code, apart from the miner's answers, which pass through as they are.
package egress
