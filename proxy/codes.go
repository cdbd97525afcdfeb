package proxy

// codes lists every Code once, in the order of their declaration.
var codes = [...]Code{
	CodeMissingHeader, CodeDuplicateHeader, CodeInvalidHotkey, CodeUnknownValidator,
	CodeLowStake, CodeNonceMalformed, CodeNonceExpired, CodeNonceFuture,
	CodeNonceReplayed, CodeSignatureFormat, CodeSignatureInvalid, CodeWrongMiner,
	CodeInvalidBody, CodeInvalidBase64, CodeKeyDecrypt, CodeUnknownKey,
	CodeTokenInvalid, CodeTokenExpired, CodeTokenFuture, CodeInvalidJSON,
	CodeBodyNonceMissing, CodeBodyNonceInvalid, CodeBodyNonceReplayed, CodeBodyTooLarge,
	CodeNotFound, CodeMethodNotAllowed, CodeNonceCapacity, CodeRateLimited,
	CodeStoreUnavailable, CodeUpstreamDown, CodeUpstreamTimeout, CodeBadRequest, CodeHeaderTooLarge,
	CodeInternal, CodeBadPath, CodeBodyNotAllowed, CodeUpstreamTooLarge, CodeUpstreamInvalid,
	CodeNonceUnverifiable,
}

// Route labels of requests that match no configured route: the public key
// endpoint and requests refused before any route was looked at.
const (
	labelPublicKey   = "public_key"
	labelInvalidHTTP = "invalid_http"
)

// Codes returns every error code fibergate answers with, in a new slice.
// With "ok", they are the values of the result label of the handshake and
// request metrics.
func Codes() []Code {
	out := make([]Code, len(codes))
	copy(out, codes[:])
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
// each kind shows in rates and alerts. Call it once, after New.
func (h *Handler) InitMetrics() {
	results := make([]string, len(codes))
	for i, c := range codes {
		results[i] = string(c)
	}
	h.opts.Metrics.InitResults(results, results, h.RouteLabels())
}
