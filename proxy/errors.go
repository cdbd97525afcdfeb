package proxy

import (
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// Code is the stable, machine-readable error code in an error body's
// "error" field and in the result label of the metrics.
type Code string

// The error codes fibergate answers with. Each has one status (see status).
const (
	CodeMissingHeader     Code = "missing_header"      // a required Fiber header is absent or empty
	CodeDuplicateHeader   Code = "duplicate_header"    // a Fiber header was sent more than once
	CodeInvalidHotkey     Code = "invalid_hotkey"      // validator-hotkey is not a valid SS58 address
	CodeUnknownValidator  Code = "unknown_validator"   // the hotkey is not in the validator list
	CodeLowStake          Code = "insufficient_stake"  // the validator's stake is below min_stake
	CodeNonceMalformed    Code = "nonce_malformed"     // the nonce is not <unix ns>_<suffix>
	CodeNonceExpired      Code = "nonce_expired"       // the nonce's time is older than the window
	CodeNonceFuture       Code = "nonce_future"        // the nonce's time is ahead of the window
	CodeNonceReplayed     Code = "nonce_replayed"      // the nonce was already used
	CodeNonceUnverifiable Code = "nonce_unverifiable"  // stamped before the replay guard's memory begins: sign again
	CodeSignatureFormat   Code = "signature_malformed" // the signature is not 0x + 128 hex digits
	CodeSignatureInvalid  Code = "signature_invalid"   // the signature does not verify
	CodeWrongMiner        Code = "wrong_miner"         // miner-hotkey names another miner
	CodeInvalidBody       Code = "invalid_body"        // the exchange body is not the expected JSON
	CodeInvalidBase64     Code = "invalid_base64"      // encrypted_symmetric_key is not base64
	CodeKeyDecrypt        Code = "key_decrypt_failed"  // the RSA ciphertext did not yield a 32-byte key
	CodeUnknownKey        Code = "unknown_key"         // no live key under (hotkey, uuid): handshake again
	CodeTokenInvalid      Code = "token_invalid"       // the body is not a Fernet token under the key
	CodeTokenExpired      Code = "token_expired"       // the token is older than the nonce window
	CodeTokenFuture       Code = "token_future"        // the token's time is ahead of the window
	CodeInvalidJSON       Code = "invalid_json"        // the decrypted body is not a JSON object
	CodeBodyNonceMissing  Code = "body_nonce_missing"  // the decrypted JSON has no "nonce" field
	CodeBodyNonceInvalid  Code = "body_nonce_malformed"
	CodeBodyNonceReplayed Code = "body_nonce_replayed" // the inner "nonce" was already used
	CodeBodyTooLarge      Code = "body_too_large"      // the body exceeds limits.max_body
	CodeNotFound          Code = "not_found"           // a deny route
	CodeMethodNotAllowed  Code = "method_not_allowed"  // wrong method on a Fiber endpoint
	CodeNonceCapacity     Code = "nonce_capacity"      // the replay guard is full: retry later
	CodeRateLimited       Code = "rate_limited"        // too many requests
	CodeStoreUnavailable  Code = "store_unavailable"   // the shared key or nonce store is down: retry shortly
	CodeUpstreamDown      Code = "upstream_unavailable"
	CodeUpstreamTimeout   Code = "upstream_timeout"
	CodeBadRequest        Code = "bad_request" // the HTTP request itself is malformed
	CodeHeaderTooLarge    Code = "header_too_large"
	CodeInternal          Code = "internal_error"            // a bug; never caused by input alone
	CodeBadPath           Code = "bad_path"                  // the path has no single meaning (see the path rule)
	CodeBodyNotAllowed    Code = "body_not_allowed"          // a body on a GET, HEAD, OPTIONS or DELETE to an encrypted route
	CodeUpstreamTooLarge  Code = "upstream_too_large"        // the app's answer is over limits.max_response
	CodeUpstreamInvalid   Code = "upstream_invalid_response" // the app answered what cannot be relayed (a 101)
)

// status maps each code to its HTTP status. It is the one place that does.
func (c Code) status() int {
	switch c {
	case CodeMissingHeader, CodeInvalidBody:
		return fasthttp.StatusUnprocessableEntity
	case CodeDuplicateHeader, CodeInvalidBase64, CodeUnknownKey, CodeTokenInvalid,
		CodeInvalidJSON, CodeBodyNonceMissing, CodeBodyNonceInvalid, CodeBadRequest,
		CodeBadPath, CodeBodyNotAllowed:
		return fasthttp.StatusBadRequest
	case CodeInvalidHotkey, CodeUnknownValidator, CodeLowStake:
		return fasthttp.StatusForbidden
	case CodeNonceMalformed, CodeNonceExpired, CodeNonceFuture, CodeNonceReplayed,
		CodeSignatureFormat, CodeSignatureInvalid, CodeWrongMiner, CodeKeyDecrypt,
		CodeTokenExpired, CodeTokenFuture, CodeBodyNonceReplayed:
		return fasthttp.StatusUnauthorized
	case CodeBodyTooLarge:
		return fasthttp.StatusRequestEntityTooLarge
	case CodeHeaderTooLarge:
		return fasthttp.StatusRequestHeaderFieldsTooLarge
	case CodeNotFound:
		return fasthttp.StatusNotFound
	case CodeMethodNotAllowed:
		return fasthttp.StatusMethodNotAllowed
	case CodeNonceCapacity, CodeRateLimited:
		return fasthttp.StatusTooManyRequests
	case CodeUpstreamDown, CodeUpstreamTooLarge, CodeUpstreamInvalid, CodeInternal:
		return fasthttp.StatusBadGateway
	case CodeStoreUnavailable, CodeNonceUnverifiable:
		return fasthttp.StatusServiceUnavailable
	case CodeUpstreamTimeout:
		return fasthttp.StatusGatewayTimeout
	}
	return fasthttp.StatusBadRequest
}

// details are the human-readable texts; where Fiber's server has a message
// for the same refusal, it is kept so existing clients show the same text.
var details = map[Code]string{
	CodeMissingHeader:     "a required header is missing",
	CodeDuplicateHeader:   "a Fiber header was sent more than once",
	CodeInvalidHotkey:     "validator-hotkey is not a valid SS58 address",
	CodeUnknownValidator:  "Hotkey not found in metagraph",
	CodeLowStake:          "Insufficient stake",
	CodeNonceMalformed:    "Invalid nonce: not of the form <unix time in ns>_<suffix>",
	CodeNonceExpired:      "Invalid nonce: too old",
	CodeNonceFuture:       "Invalid nonce: too far in the future",
	CodeNonceReplayed:     "Invalid nonce: already used",
	CodeNonceUnverifiable: "the nonce was stamped before fibergate's replay guard can vouch for it (after a restart or a loss of its store): sign again with a fresh nonce",
	CodeSignatureFormat:   "Invalid signature: expected 0x followed by 128 hex digits",
	CodeSignatureInvalid:  "Invalid signature",
	CodeWrongMiner:        "miner-hotkey is not this miner's hotkey",
	CodeInvalidBody:       "the request body is not the expected JSON",
	CodeInvalidBase64:     "encrypted_symmetric_key is not valid base64",
	CodeKeyDecrypt:        "Unable to decrypt the symmetric key",
	CodeUnknownKey:        "No symmetric key found for that hotkey and uuid",
	CodeTokenInvalid:      "Decryption failed: the body is not a valid token for this key",
	CodeTokenExpired:      "Decryption failed: the token is older than the nonce window",
	CodeTokenFuture:       "Decryption failed: the token is dated too far in the future",
	CodeInvalidJSON:       "the decrypted body is not a JSON object",
	CodeBodyNonceMissing:  "the decrypted body has no \"nonce\" field",
	CodeBodyNonceInvalid:  "the decrypted body's \"nonce\" field is malformed",
	CodeBodyNonceReplayed: "the decrypted body's \"nonce\" was already used",
	CodeBodyTooLarge:      "the request body is too large",
	CodeNotFound:          "Not Found",
	CodeMethodNotAllowed:  "Method Not Allowed",
	CodeNonceCapacity:     "too many requests in flight: retry shortly",
	CodeRateLimited:       "too many requests: retry shortly",
	CodeStoreUnavailable:  "the shared key store is unavailable: retry shortly",
	CodeUpstreamDown:      "the upstream app is unavailable",
	CodeUpstreamTimeout:   "the upstream app did not answer in time",
	CodeBadRequest:        "malformed HTTP request",
	CodeBadPath:           "the path has no single meaning: an invalid, encoded separator, control or double-encoded escape",
	CodeBodyNotAllowed:    "a GET, HEAD, OPTIONS or DELETE request on an encrypted route must have no body",
	CodeUpstreamTooLarge:  "the upstream app's answer is too large",
	CodeUpstreamInvalid:   "the upstream app's answer cannot be relayed",
	CodeHeaderTooLarge:    "request headers are too large",
	CodeInternal:          "internal error",
}

// errorBodies are the pre-rendered JSON error bodies, one per code, so a
// refusal costs no allocation.
var errorBodies = func() map[Code][]byte {
	m := make(map[Code][]byte, len(details))
	for c, d := range details {
		b := []byte(`{"detail":`)
		b = strconv.AppendQuote(b, d)
		b = append(b, `,"error":`...)
		b = strconv.AppendQuote(b, string(c))
		if c == CodeUnknownKey {
			b = append(b, `,"requires_handshake":true`...)
		}
		b = append(b, '}')
		m[c] = b
	}
	return m
}()

// retryAfterKey holds, in the request's user values, how long a refused
// client should wait (a time.Duration), for the Retry-After header.
const retryAfterKey = "fibergate.retry_after"

// writeError answers ctx with the status and JSON body of code, replacing
// anything already set on the response.
func writeError(ctx *fasthttp.RequestCtx, code Code) {
	ctx.Response.Reset()
	ctx.SetStatusCode(code.status())
	ctx.SetContentType("application/json")
	if code == CodeRateLimited || code == CodeNonceCapacity || code == CodeStoreUnavailable || code == CodeNonceUnverifiable {
		secs := int64(1)
		if d, ok := ctx.UserValue(retryAfterKey).(time.Duration); ok && d > time.Second {
			secs = int64((d + time.Second - 1) / time.Second)
		}
		ctx.Response.Header.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	ctx.SetBody(errorBodies[code])
}
