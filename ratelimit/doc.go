// Package ratelimit provides lock-free rate limits for the request path: a
// single limit (GCRA, one atomic word), a fixed table of limits indexed by a
// hashed key (for client addresses: bounded memory however many addresses
// appear), and a map of limits for a bounded set of keys (verified
// validators). A limit of zero rate allows everything.
package ratelimit
