package proxy

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"
	"time"

	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/valyala/fasthttp"
)

// upstreamCall is what forward needs to know about a verified request.
type upstreamCall struct {
	caller   caller      // zero for public routes
	uuid     []byte      // the key uuid, for X-Fiber-Symmetric-Key-Uuid
	body     []byte      // what the app receives
	keepType bool        // keep the request's Content-Type (not a decrypted body)
	encrypt  bool        // encrypt the response under key
	key      *fernet.Key // the request's key, when encrypt is set
	// jsonObject is set when body was verified (signed or decrypted) and
	// is one JSON object, which no app can read as a request: only then
	// may the connection that carries it carry another request.
	jsonObject bool
}

// Headers fibergate sets for the app; any arriving from outside are removed.
const (
	headerValidatorHotkey = "X-Fiber-Validator-Hotkey"
	headerValidatorStake  = "X-Fiber-Validator-Stake"
	headerKeyUUID         = "X-Fiber-Symmetric-Key-Uuid"
	headerEncrypted       = "X-Fiber-Encrypted"
	headerContentType     = "X-Fiber-Content-Type" // the app's Content-Type of an encrypted answer
)

// outbound is what the app is told about a request beyond its checks: the
// method, the canonical request target (escaped path and query) and
// fibergate's view of the client, worked out once in Serve.
type outbound struct {
	method string
	target []byte
	client netip.Addr
}

// forward sends the request to the app and relays its answer. It returns a
// Code only when nothing was written to the validator yet.
func (h *Handler) forward(ctx *fasthttp.RequestCtx, r *route, out outbound, call upstreamCall) Code {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	h.buildUpstreamRequest(req, &ctx.Request, out, &call)
	resp := fasthttp.AcquireResponse()

	// Real time (Options.Now is the protocol clock), read as the time
	// since the request began: two monotonic readings instead of five.
	began := ctx.Time()
	if began.IsZero() {
		began = time.Now()
	}
	sent := time.Since(began)
	var caller *[32]byte
	if call.caller.id != nil {
		caller = &call.caller.id.pub
	}
	x, err := h.up.send(req, resp, caller, began.Add(sent+h.opts.UpstreamTimeout), mayResend(req))
	h.opts.Metrics.Upstream(r.label, time.Since(began)-sent)
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		if errors.Is(err, fasthttp.ErrTimeout) {
			return CodeUpstreamTimeout
		}
		h.log.Warn("upstream request failed", "route", r.label, "err", err)
		return CodeUpstreamDown
	}
	// forward owns the exchange from here: it finishes it once, unless the
	// stream relay took it, whatever relay did or a panic cut short.
	ended, handedOff := false, false
	defer func() {
		if !handedOff {
			x.finish(ended)
		}
	}()
	var code Code
	code, ended, handedOff = h.relay(ctx, r, &x, call)
	return code
}

// buildUpstreamRequest builds, in dst, the request the app receives, from
// what was checked: the method and target Serve checked, the app's Host,
// the headers of the request's header section that forwardRequestHeader
// lets through (a trailer section is never read: no trailer field reaches
// the app), fibergate's own headers, and the body that was verified, its
// length stated by Content-Length.
func (h *Handler) buildUpstreamRequest(dst, src *fasthttp.Request, out outbound, call *upstreamCall) {
	dst.Header.SetNoDefaultContentType(true)
	dst.Header.SetMethod(out.method)
	dst.Header.SetRequestURIBytes(out.target)
	dst.Header.SetHost(h.upHost)
	copyRequestHeaders(&dst.Header, &src.Header, call)
	if !call.keepType {
		dst.Header.SetContentType("application/json")
	}
	if c := call.caller; c.id != nil {
		dst.Header.Set(headerValidatorHotkey, c.id.ss58)
		var num [32]byte
		dst.Header.SetBytesV(headerValidatorStake, strconv.AppendFloat(num[:0], c.stake, 'f', -1, 64))
		if len(call.uuid) > 0 {
			dst.Header.SetBytesV(headerKeyUUID, call.uuid)
		}
	}
	if c := out.client; c.IsValid() {
		var buf [64]byte
		dst.Header.SetBytesV("X-Forwarded-For", c.AppendTo(buf[:0]))
		dst.Header.SetBytesV("X-Real-Ip", c.AppendTo(buf[:0]))
		dst.Header.SetBytesV("Forwarded", appendForwarded(buf[:0], c))
	}
	dst.SetBodyRaw(call.body)
	if len(call.body) > 0 && !(call.jsonObject && methodHasBody(out.method)) {
		// An app that answers without reading this body would read it as
		// the next request on the connection: it carries nothing after.
		dst.Header.SetConnectionClose()
	}
}

// mayResend reports whether a request may reach the app twice: a GET,
// HEAD or OPTIONS without a body.
func mayResend(req *fasthttp.Request) bool {
	if len(req.Body()) > 0 {
		return false
	}
	m := req.Header.Method()
	return string(m) == fasthttp.MethodGet || string(m) == fasthttp.MethodHead || string(m) == fasthttp.MethodOptions
}

// relay passes the app's answer to the validator. It reports whether the
// answer's body was read exactly to its end, and whether it handed the
// exchange to the stream relay, which then finishes it; otherwise the
// caller does.
func (h *Handler) relay(ctx *fasthttp.RequestCtx, r *route, x *exchange, call upstreamCall) (code Code, ended, handedOff bool) {
	resp := x.resp
	status := resp.StatusCode()
	switch {
	case status < 200:
		// Interim answers were read past; what is left is a 101 nobody
		// asked for (Upgrade is never forwarded).
		return CodeUpstreamInvalid, false, false
	case ctx.IsHead() || status == fasthttp.StatusNoContent || status == fasthttp.StatusNotModified:
		h.relayBodiless(ctx, resp, call.encrypt)
		return "", false, false
	case isStream(resp):
		return h.relayStream(ctx, x, call), false, true
	}
	n := resp.Header.ContentLength()
	if n > h.opts.MaxResponse {
		h.log.Warn("upstream answer too large", "route", r.label, "content_length", n, "max_response", h.opts.MaxResponse)
		return CodeUpstreamTooLarge, false, false
	}
	if err := x.readFixed(h.opts.MaxResponse); err != nil {
		if isTimeout(err) {
			return CodeUpstreamTimeout, false, false
		}
		return CodeUpstreamDown, false, false
	}
	copyResponseHeaders(&ctx.Response, resp, call.encrypt)
	if call.encrypt {
		buf := getBuf()
		sealed, err := call.key.Seal((*buf)[:0], resp.Body())
		if err != nil {
			putBuf(buf)
			return CodeInternal, true, false
		}
		// The sealed buffer becomes the answer's body, and the answer's
		// previous buffer goes back to the pool: no copy.
		*buf = ctx.Response.SwapBody(sealed)[:0]
		putBuf(buf)
	} else {
		// The app's body moves to the validator's answer, and the
		// answer's previous buffer to the app's: no copy.
		resp.SwapBody(ctx.Response.SwapBody(resp.Body()))
	}
	return "", true, false
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// isStream reports whether the app is streaming: a chunked or
// close-delimited body, or server-sent events.
func isStream(resp *fasthttp.Response) bool {
	if resp.Header.ContentLength() < 0 {
		return true
	}
	return bytes.HasPrefix(resp.Header.ContentType(), []byte("text/event-stream"))
}

// relayBodiless passes on an answer that has no body: 204, 304, or the
// answer to a HEAD. Its headers, Content-Length included (it describes the
// body a GET would get), pass as they are; an encrypted route's answer
// drops Content-Length, which would describe the plaintext.
func (h *Handler) relayBodiless(ctx *fasthttp.RequestCtx, resp *fasthttp.Response, encrypt bool) {
	copyResponseHeaders(&ctx.Response, resp, false)
	ctx.Response.SkipBody = true
	if n := resp.Header.ContentLength(); n >= 0 && !encrypt {
		ctx.Response.Header.SetContentLength(n)
	} else {
		// No length to state: fasthttp must not invent "0". Its "identity"
		// length also marks the connection for closing, which a bodiless
		// answer has no reason to do.
		ctx.Response.Header.SetContentLength(-2)
		ctx.Response.Header.ResetConnectionClose()
	}
}
