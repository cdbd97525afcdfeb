// Package rpc is a small JSON-RPC 2.0 client for a Substrate node, over
// HTTP (one POST per call) and over WebSocket (one connection, answers
// matched to calls by id, in any order). Every call is bounded by its
// context, and every response by a size limit, so a node that sends
// garbage, too much or nothing at all costs a bounded amount of memory and
// time and never a crash.
package rpc
