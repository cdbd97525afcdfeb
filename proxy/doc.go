// Package proxy is the sidecar itself: a fasthttp handler that speaks the
// Fiber protocol to validators (the RSA handshake, signed headers, nonces,
// the stake gate, Fernet bodies) and plain HTTP + JSON to the upstream app.
// It verifies and decrypts each request, forwards the plaintext with the
// validator's verified identity in X-Fiber-* headers, and relays the app's
// answer, plain or encrypted as the route says. Every refusal is a 4xx with a
// stable error code, and nothing refused ever reaches the app.
package proxy
