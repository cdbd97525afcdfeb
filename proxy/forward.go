package proxy

import (
	"bytes"
	"errors"
	"io"
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
	newBody  bool        // body replaces the request's (a decrypted body)
	keepType bool        // keep the request's Content-Type (not a decrypted body)
	encrypt  bool        // encrypt the response under key
	key      *fernet.Key // the request's key, when encrypt is set
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
// canonical request target (escaped path and query) and fibergate's view
// of the client, worked out once in Serve.
type outbound struct {
	target []byte
	client netip.Addr
}

// forward sends the request to the app and relays its answer. It returns a
// Code only when nothing was written to the validator yet.
//
// The validator's request object itself goes to the app, edited in place
// (headers that must not pass removed, fibergate's added, the decrypted
// body set), rather than copied header by header into a new one.
func (h *Handler) forward(ctx *fasthttp.RequestCtx, r *route, out outbound, call upstreamCall) Code {
	req := &ctx.Request
	stripRequestHeaders(req, &call)
	req.SetRequestURIBytes(out.target)
	req.Header.SetHost(h.upHost)
	req.Header.SetProtocol("HTTP/1.1")
	// The validator's Connection: close was noted by the server already;
	// it is no business of the upstream connection.
	req.Header.ResetConnectionClose()
	if !call.keepType {
		req.Header.SetContentType("application/json")
	}
	if c := call.caller; c.id != nil {
		req.Header.Set(headerValidatorHotkey, c.id.ss58)
		var num [32]byte
		req.Header.SetBytesV(headerValidatorStake, strconv.AppendFloat(num[:0], c.stake, 'f', -1, 64))
		if len(call.uuid) > 0 {
			req.Header.SetBytesV(headerKeyUUID, call.uuid)
		}
	}
	if c := out.client; c.IsValid() {
		var buf [64]byte
		req.Header.SetBytesV("X-Forwarded-For", c.AppendTo(buf[:0]))
		req.Header.SetBytesV("X-Real-Ip", c.AppendTo(buf[:0]))
		req.Header.SetBytesV("Forwarded", appendForwarded(buf[:0], c))
	}
	if call.newBody {
		req.SetBodyRaw(call.body)
	}
	if len(req.Body()) > 0 && !hasBody(ctx) {
		// An app may ignore a GET's body and read it as the next request:
		// this connection must not carry another one.
		req.SetConnectionClose()
	}
	resp := fasthttp.AcquireResponse()

	// Real time (Options.Now is the protocol clock), read as the time
	// since the request began: two monotonic readings instead of five.
	began := ctx.Time()
	if began.IsZero() {
		began = time.Now()
	}
	sent := time.Since(began)
	err := h.upstream.DoDeadline(req, resp, began.Add(sent+h.opts.UpstreamTimeout))
	answered := time.Since(began)
	h.opts.Metrics.Upstream(r.label, answered-sent)
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		if errors.Is(err, fasthttp.ErrTimeout) {
			return CodeUpstreamTimeout
		}
		h.log.Warn("upstream request failed", "route", r.label, "err", err)
		return CodeUpstreamDown
	}
	h.upLastOK.Store(began.UnixNano() + int64(answered))
	status := resp.StatusCode()
	switch {
	case status < 200:
		// Interim answers are consumed by the client; what is left is a
		// 101 nobody asked for (Upgrade is never forwarded).
		fasthttp.ReleaseResponse(resp)
		return CodeUpstreamInvalid
	case ctx.IsHead() || status == fasthttp.StatusNoContent || status == fasthttp.StatusNotModified || resp.BodyStream() == nil:
		h.relayBodiless(ctx, resp, call.encrypt)
		fasthttp.ReleaseResponse(resp)
		return ""
	case isStream(resp):
		h.relayStream(ctx, resp, call)
		return ""
	}
	defer fasthttp.ReleaseResponse(resp)
	n := resp.Header.ContentLength()
	if n > h.opts.MaxResponse {
		h.log.Warn("upstream answer too large", "route", r.label, "content_length", n, "max_response", h.opts.MaxResponse)
		return CodeUpstreamTooLarge
	}
	buf := getBuf()
	defer putBuf(buf)
	body, err := readBody(resp.BodyStream(), n, (*buf)[:0])
	*buf = body
	if err != nil {
		if isTimeout(err) {
			return CodeUpstreamTimeout
		}
		return CodeUpstreamDown
	}
	copyResponseHeaders(&ctx.Response, resp, call.encrypt)
	if call.encrypt {
		out := getBuf()
		defer putBuf(out)
		sealed, err := call.key.Seal((*out)[:0], body)
		*out = sealed
		if err != nil {
			return CodeInternal
		}
		buf, out = out, buf // the sealed body is the one handed over
	}
	// The buffer becomes the answer's body, and the answer's previous
	// buffer comes back to the pool: no copy.
	*buf = ctx.Response.SwapBody(*buf)[:0]
	return ""
}

// readBody appends exactly n bytes of a fixed-length upstream body to dst.
// n is at most the configured answer limit, checked by the caller. It reads
// on to the stream's end: only a body read to its end lets fasthttp put the
// connection back in the pool.
func readBody(st io.Reader, n int, dst []byte) ([]byte, error) {
	if cap(dst) < n {
		dst = make([]byte, 0, n)
	}
	dst = dst[:n]
	if _, err := io.ReadFull(st, dst); err != nil {
		return dst[:0], err
	}
	var end [1]byte
	if m, err := st.Read(end[:]); m != 0 || err != io.EOF {
		return dst[:0], io.ErrUnexpectedEOF
	}
	return dst, nil
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
