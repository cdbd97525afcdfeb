// Package chaintest runs a fake subtensor node for tests: a JSON-RPC
// server on loopback, over HTTP and WebSocket on one port as a real node
// serves them, that answers from the recorded sessions of the chain
// fixtures (testdata/vectors/chain). It answers the recorded calls with
// the recorded answers, byte for byte, and the few calls a client makes to
// find the block of a session (the finalized head, a header without a
// hash) with that session's block.
package chaintest
