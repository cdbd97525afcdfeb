package egress

import (
	"strconv"

	"github.com/valyala/fasthttp"
)

// Code is egress's stable error code. The caller tells egress's own errors
// from the miner's answers by the X-Fibergate-Error header, which only
// egress's errors carry.
type Code string

// Error codes, each with its status in codeInfo.
const (
	CodeBadTarget        Code = "bad_target"         // the miner is not named, or named badly or twice
	CodeInvalidJSON      Code = "invalid_json"       // an encrypted request's body is not one JSON object
	CodeBadRequest       Code = "bad_request"        // malformed HTTP, or a bad X-Fibergate-* value
	CodeBodyNotAllowed   Code = "body_not_allowed"   // a GET with a body: nothing would sign it
	CodeClientNotAllowed Code = "client_not_allowed" // the caller's address is not allowed
	CodeUnknownMiner     Code = "unknown_miner"      // no source lists the miner
	CodeMethodNotAllowed Code = "method_not_allowed" // not GET or POST
	CodeBodyTooLarge     Code = "body_too_large"     // over limits.max_body
	CodeHeaderTooLarge   Code = "header_too_large"   // over limits.max_header
	CodeInternal         Code = "internal_error"     // a bug in egress
	CodeMinerUnreachable Code = "miner_unreachable"  // no connection, or it closed without an answer
	CodeHandshakeFailed  Code = "handshake_failed"   // the key exchange got no usable answer
	CodeMinerNotServing  Code = "miner_not_serving"  // the miner's listed address is 0.0.0.0 or port 0
	CodeMinerBadAnswer   Code = "miner_bad_answer"   // an answer egress cannot relay
	CodeMinerBackoff     Code = "miner_backoff"      // the miner failed repeatedly: wait Retry-After
	CodeOverloaded       Code = "overloaded"         // too many requests in flight: wait Retry-After
	CodeMinerTimeout     Code = "miner_timeout"      // a timeout of timeouts.* ran out
)

// codeInfo is the one table of each code's status and detail.
var codeInfo = map[Code]struct {
	status int
	detail string
}{
	CodeBadTarget:        {400, "name the miner once: /miner/<ss58>/<path>, /uid/<n>/<path>, or the header X-Fibergate-Miner"},
	CodeInvalidJSON:      {400, "an encrypted request's body must be one JSON object"},
	CodeBadRequest:       {400, "malformed request"},
	CodeBodyNotAllowed:   {400, "a GET carries no body: Fiber signs none"},
	CodeClientNotAllowed: {403, "this address may not use egress (allow_clients)"},
	CodeUnknownMiner:     {404, "no miner source lists this miner"},
	CodeMethodNotAllowed: {405, "only GET and POST, as Fiber has"},
	CodeBodyTooLarge:     {413, "the body is over limits.max_body"},
	CodeHeaderTooLarge:   {431, "the headers are over limits.max_header"},
	CodeInternal:         {500, "internal error"},
	CodeMinerUnreachable: {502, "the miner cannot be reached"},
	CodeHandshakeFailed:  {502, "the key exchange with the miner got no usable answer"},
	CodeMinerNotServing:  {502, "the miner's listed address is not serving (0.0.0.0 or port 0)"},
	CodeMinerBadAnswer:   {502, "the miner's answer cannot be relayed"},
	CodeMinerBackoff:     {503, "the miner failed repeatedly and is left alone for a while"},
	CodeOverloaded:       {503, "too many requests in flight"},
	CodeMinerTimeout:     {504, "the miner did not answer in time"},
}

// Codes returns every code, for metrics that must know them in advance.
func Codes() []string {
	out := make([]string, 0, len(codeInfo))
	for c := range codeInfo {
		out = append(out, string(c))
	}
	return out
}

// Status returns the HTTP status of c.
func (c Code) Status() int { return codeInfo[c].status }

// HeaderError is the header that marks an answer as egress's own.
const HeaderError = "X-Fibergate-Error"

// writeError answers ctx with c: its status, X-Fibergate-Error, and the
// JSON {"error": c, "detail": ...}; detail replaces the table's when not
// empty. retryAfter, when positive, is sent as Retry-After (seconds).
func writeError(ctx *fasthttp.RequestCtx, c Code, detail string, retryAfter int) {
	info := codeInfo[c]
	if detail == "" {
		detail = info.detail
	}
	r := &ctx.Response
	r.Reset()
	r.SetStatusCode(info.status)
	r.Header.Set(HeaderError, string(c))
	r.Header.SetContentType("application/json")
	if retryAfter > 0 {
		var b [20]byte
		r.Header.SetBytesV("Retry-After", strconv.AppendInt(b[:0], int64(retryAfter), 10))
	}
	var b [256]byte
	body := append(b[:0], `{"error":"`...)
	body = append(body, c...)
	body = append(body, `","detail":`...)
	body = strconv.AppendQuote(body, detail)
	body = append(body, '}')
	r.SetBody(body)
}
