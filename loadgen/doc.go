// Package loadgen drives a Fiber server the way many validators would, to
// measure it: each simulated validator has its own sr25519 hotkey (derived
// deterministically, so a generated nodes.json can register them with the
// target), does a real RSA handshake, and then sends signed, Fernet-encrypted
// requests. The costly parts of making a request (the sr25519 signature over
// a fresh nonce, the Fernet token of a payload with a fresh inner nonce) are
// done ahead of the measured phase in batches, each used while its nonces are
// still inside the target's window; long runs sign in rolling batches in the
// background, shortly before use. Requests go out over fasthttp with reused
// request objects, so the generator costs far less per request than the
// target. Run drives a closed loop (a fixed number of workers, each sending
// as soon as its last answer came) or a fixed rate (an open-loop schedule
// whose latencies are measured from each request's intended send time), and
// can measure full handshakes instead of requests, or flood the target with a
// mix of bad requests. Its plain mode sends the same JSON bodies with no
// Fiber at all, so an app or a plain proxy can be measured by the same
// generator for comparison. It reports throughput, latency percentiles and
// answers by status and error code.
package loadgen
