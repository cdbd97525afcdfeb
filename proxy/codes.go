package proxy

import (
	"strconv"
	"time"

	"github.com/fibergate/fibergate/metrics"
	"github.com/valyala/fasthttp"
)

// Code is the stable, machine-readable error code in an error body's
// "error" field and in the result label of the metrics.
type Code string

// The error codes fibergate answers with. Each has one row in codeTable,
// which gives its status and detail.
const (
	CodeMissingHeader     Code = "missing_header"            // a required Fiber header is absent or empty
	CodeDuplicateHeader   Code = "duplicate_header"          // a Fiber header was sent more than once
	CodeInvalidHotkey     Code = "invalid_hotkey"            // validator-hotkey is not a valid SS58 address
	CodeUnknownValidator  Code = "unknown_validator"         // the hotkey is not in the validator list
	CodeLowStake          Code = "insufficient_stake"        // the validator's stake is below min_stake
	CodeNonceMalformed    Code = "nonce_malformed"           // the nonce is not <unix ns>_<suffix>
	CodeNonceExpired      Code = "nonce_expired"             // the nonce's time is older than the window
	CodeNonceFuture       Code = "nonce_future"              // the nonce's time is ahead of the window
	CodeNonceReplayed     Code = "nonce_replayed"            // the nonce was already used
	CodeSignatureFormat   Code = "signature_malformed"       // the signature is not 0x + 128 hex digits
	CodeSignatureInvalid  Code = "signature_invalid"         // the signature does not verify
	CodeWrongMiner        Code = "wrong_miner"               // miner-hotkey names another miner
	CodeInvalidBody       Code = "invalid_body"              // the exchange body is not the expected JSON
	CodeInvalidBase64     Code = "invalid_base64"            // encrypted_symmetric_key is not base64
	CodeKeyDecrypt        Code = "key_decrypt_failed"        // the RSA ciphertext did not yield a 32-byte key
	CodeUnknownKey        Code = "unknown_key"               // no live key under (hotkey, uuid): handshake again
	CodeTokenInvalid      Code = "token_invalid"             // the body is not a Fernet token under the key
	CodeTokenExpired      Code = "token_expired"             // the token is older than the nonce window
	CodeTokenFuture       Code = "token_future"              // the token's time is ahead of the window
	CodeInvalidJSON       Code = "invalid_json"              // the decrypted body is not a JSON object
	CodeBodyNonceMissing  Code = "body_nonce_missing"        // the decrypted JSON has no "nonce" field
	CodeBodyNonceInvalid  Code = "body_nonce_malformed"      // the inner "nonce" is not a plain string, malformed or outside the window
	CodeBodyNonceReplayed Code = "body_nonce_replayed"       // the inner "nonce" was already used
	CodeBodyTooLarge      Code = "body_too_large"            // the body exceeds limits.max_body
	CodeNotFound          Code = "not_found"                 // a deny route
	CodeMethodNotAllowed  Code = "method_not_allowed"        // wrong method on a Fiber endpoint, or one fibergate never forwards
	CodeNonceCapacity     Code = "nonce_capacity"            // the replay guard is full: retry later
	CodeRateLimited       Code = "rate_limited"              // too many requests
	CodeStoreUnavailable  Code = "store_unavailable"         // the shared key or nonce store is down: retry shortly
	CodeUpstreamDown      Code = "upstream_unavailable"      // the app cannot be reached, or broke off before relaying began
	CodeUpstreamTimeout   Code = "upstream_timeout"          // the app did not answer in time
	CodeBadRequest        Code = "bad_request"               // the HTTP request itself is malformed
	CodeHeaderTooLarge    Code = "header_too_large"          // the request's head is over limits.max_header
	CodeInternal          Code = "internal_error"            // a bug; never caused by input alone
	CodeBadPath           Code = "bad_path"                  // the path has no single meaning (see the path rule)
	CodeBodyNotAllowed    Code = "body_not_allowed"          // a body on a GET, HEAD, OPTIONS or DELETE to an encrypted route
	CodeUpstreamTooLarge  Code = "upstream_too_large"        // the app's answer is over limits.max_response
	CodeUpstreamInvalid   Code = "upstream_invalid_response" // the app answered what cannot be relayed (a 101)
	CodeNonceUnverifiable Code = "nonce_unverifiable"        // stamped before the replay guard's memory begins: sign again
)

// codeInfo is what an answer with a code needs.
type codeInfo struct {
	code   Code
	status int
	// detail is the human-readable text; where Fiber's server has a
	// message for the same refusal, it is kept so existing clients show
	// the same text.
	detail string
	// retry marks the codes that ask the client to come back: their
	// answers carry Retry-After.
	retry bool
}

// codeTable lists every code once, in the order of the metrics' result
// label values. Everything about a code is read from here: its status,
// its error body, whether it carries Retry-After, and the label values
// the metrics start at 0. A test holds docs/answers.md's error table to it.
var codeTable = [...]codeInfo{
	{CodeMissingHeader, fasthttp.StatusUnprocessableEntity, "a required header is missing", false},
	{CodeDuplicateHeader, fasthttp.StatusBadRequest, "a Fiber header was sent more than once", false},
	{CodeInvalidHotkey, fasthttp.StatusForbidden, "validator-hotkey is not a valid SS58 address", false},
	{CodeUnknownValidator, fasthttp.StatusForbidden, "Hotkey not found in metagraph", false},
	{CodeLowStake, fasthttp.StatusForbidden, "Insufficient stake", false},
	{CodeNonceMalformed, fasthttp.StatusUnauthorized, "Invalid nonce: not of the form <unix time in ns>_<suffix>", false},
	{CodeNonceExpired, fasthttp.StatusUnauthorized, "Invalid nonce: too old", false},
	{CodeNonceFuture, fasthttp.StatusUnauthorized, "Invalid nonce: too far in the future", false},
	{CodeNonceReplayed, fasthttp.StatusUnauthorized, "Invalid nonce: already used", false},
	{CodeSignatureFormat, fasthttp.StatusUnauthorized, "Invalid signature: expected 0x followed by 128 hex digits", false},
	{CodeSignatureInvalid, fasthttp.StatusUnauthorized, "Invalid signature", false},
	{CodeWrongMiner, fasthttp.StatusUnauthorized, "miner-hotkey is not this miner's hotkey", false},
	{CodeInvalidBody, fasthttp.StatusUnprocessableEntity, "the request body is not the expected JSON", false},
	{CodeInvalidBase64, fasthttp.StatusBadRequest, "encrypted_symmetric_key is not valid base64", false},
	{CodeKeyDecrypt, fasthttp.StatusUnauthorized, "Unable to decrypt the symmetric key", false},
	{CodeUnknownKey, fasthttp.StatusBadRequest, "No symmetric key found for that hotkey and uuid", false},
	{CodeTokenInvalid, fasthttp.StatusBadRequest, "Decryption failed: the body is not a valid token for this key", false},
	{CodeTokenExpired, fasthttp.StatusUnauthorized, "Decryption failed: the token is older than the nonce window", false},
	{CodeTokenFuture, fasthttp.StatusUnauthorized, "Decryption failed: the token is dated too far in the future", false},
	{CodeInvalidJSON, fasthttp.StatusBadRequest, "the decrypted body is not a JSON object", false},
	{CodeBodyNonceMissing, fasthttp.StatusBadRequest, "the decrypted body has no \"nonce\" field", false},
	{CodeBodyNonceInvalid, fasthttp.StatusBadRequest, "the decrypted body's \"nonce\" field is malformed", false},
	{CodeBodyNonceReplayed, fasthttp.StatusUnauthorized, "the decrypted body's \"nonce\" was already used", false},
	{CodeBodyTooLarge, fasthttp.StatusRequestEntityTooLarge, "the request body is too large", false},
	{CodeNotFound, fasthttp.StatusNotFound, "Not Found", false},
	{CodeMethodNotAllowed, fasthttp.StatusMethodNotAllowed, "Method Not Allowed", false},
	{CodeNonceCapacity, fasthttp.StatusTooManyRequests, "too many requests in flight: retry shortly", true},
	{CodeRateLimited, fasthttp.StatusTooManyRequests, "too many requests: retry shortly", true},
	{CodeStoreUnavailable, fasthttp.StatusServiceUnavailable, "the shared key store is unavailable: retry shortly", true},
	{CodeUpstreamDown, fasthttp.StatusBadGateway, "the upstream app is unavailable", false},
	{CodeUpstreamTimeout, fasthttp.StatusGatewayTimeout, "the upstream app did not answer in time", false},
	{CodeBadRequest, fasthttp.StatusBadRequest, "malformed HTTP request", false},
	{CodeHeaderTooLarge, fasthttp.StatusRequestHeaderFieldsTooLarge, "request headers are too large", false},
	{CodeInternal, fasthttp.StatusBadGateway, "internal error", false},
	{CodeBadPath, fasthttp.StatusBadRequest, "the path has no single meaning: an invalid, encoded separator, control or double-encoded escape", false},
	{CodeBodyNotAllowed, fasthttp.StatusBadRequest, "a GET, HEAD, OPTIONS or DELETE request on an encrypted route must have no body", false},
	{CodeUpstreamTooLarge, fasthttp.StatusBadGateway, "the upstream app's answer is too large", false},
	{CodeUpstreamInvalid, fasthttp.StatusBadGateway, "the upstream app's answer cannot be relayed", false},
	{CodeNonceUnverifiable, fasthttp.StatusServiceUnavailable, "the nonce was stamped before fibergate's replay guard can vouch for it (after a restart or a loss of its store): sign again with a fresh nonce", true},
}

// answer is a code's row with its pre-rendered JSON body, so a refusal
// costs no allocation.
type answer struct {
	codeInfo
	body []byte
}

// answers holds every code's answer.
var answers = func() map[Code]*answer {
	m := make(map[Code]*answer, len(codeTable))
	for _, ci := range codeTable {
		b := []byte(`{"detail":`)
		b = strconv.AppendQuote(b, ci.detail)
		b = append(b, `,"error":`...)
		b = strconv.AppendQuote(b, string(ci.code))
		if ci.code == CodeUnknownKey {
			b = append(b, `,"requires_handshake":true`...)
		}
		b = append(b, '}')
		m[ci.code] = &answer{codeInfo: ci, body: b}
	}
	return m
}()

// info returns c's answer; a code missing from codeTable is a bug, and
// answers as internal_error does.
func (c Code) info() *answer {
	if a, ok := answers[c]; ok {
		return a
	}
	return answers[CodeInternal]
}

// status is c's HTTP status.
func (c Code) status() int { return c.info().status }

// result is c as the metrics' result label value: "ok" for no code.
func (c Code) result() string {
	if c == "" {
		return metrics.ResultOK
	}
	return string(c)
}

// refusal is a request fibergate does not serve, with everything its
// answer needs: the code, and for a code that asks the client to come
// back, how long to wait.
type refusal struct {
	code Code
	wait time.Duration
}

// refuse is a refusal with code c and no particular wait.
func refuse(c Code) refusal { return refusal{code: c} }

// refused reports whether r refuses the request.
func (r refusal) refused() bool { return r.code != "" }

// writeError answers ctx with r's status and JSON body, replacing anything
// already set on the response. A code that asks the client to come back
// says when, in whole seconds, at least 1.
func writeError(ctx *fasthttp.RequestCtx, r refusal) {
	a := r.code.info()
	ctx.Response.Reset()
	ctx.SetStatusCode(a.status)
	ctx.SetContentType("application/json")
	if a.retry {
		secs := int64(1)
		if r.wait > time.Second {
			secs = int64((r.wait + time.Second - 1) / time.Second)
		}
		ctx.Response.Header.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	ctx.SetBody(a.body)
}

// Route labels of requests that match no configured route: the Fiber
// endpoints, and requests refused before any route was looked at.
const (
	labelPublicKey   = "public_key"
	labelHandshake   = "handshake"
	labelInvalidHTTP = "invalid_http"
)

// Codes returns every error code fibergate answers with, in a new slice.
// With "ok", they are the values of the result label of the handshake and
// request metrics.
func Codes() []Code {
	out := make([]Code, len(codeTable))
	for i, ci := range codeTable {
		out[i] = ci.code
	}
	return out
}

// RouteLabels returns every value of the route label h records requests
// under: each configured route's path, "default", "public_key" and
// "invalid_http".
func (h *Handler) RouteLabels() []string {
	out := make([]string, 0, len(h.routes.routes)+3)
	for _, r := range h.routes.routes {
		out = append(out, r.label)
	}
	return append(out, h.routes.def.label, labelPublicKey, labelInvalidHTTP)
}

// InitMetrics makes every handshake result, and every result on every
// route, exist at 0 in the handler's metrics, so that the first refusal of
// each kind shows in rates and alerts; likewise every way a stream ends.
// Call it once, after New.
func (h *Handler) InitMetrics() {
	results := make([]string, len(codeTable))
	for i, ci := range codeTable {
		results[i] = ci.code.result()
	}
	h.opts.Metrics.InitResults(results, results, h.RouteLabels())
	h.opts.Metrics.InitStreams(StreamResults())
}
