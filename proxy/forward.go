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
)

var xFiberPrefix = []byte("x-fiber-")

// hopByHop are the headers that describe one connection, not the message
// (RFC 9110 section 7.6.1); a proxy must not forward them.
var hopByHop = [][]byte{
	[]byte("Connection"), []byte("Keep-Alive"), []byte("Proxy-Connection"),
	[]byte("Proxy-Authenticate"), []byte("Proxy-Authorization"), []byte("Te"),
	[]byte("Trailer"), []byte("Transfer-Encoding"), []byte("Upgrade"),
}

func isHopByHop(k []byte) bool {
	for _, h := range hopByHop {
		if bytes.EqualFold(k, h) {
			return true
		}
	}
	return false
}

// skipRequestHeader reports whether an incoming header stays behind.
func skipRequestHeader(k []byte, call *upstreamCall) bool {
	switch {
	case isHopByHop(k):
		return true
	case len(k) > len(xFiberPrefix) && bytes.EqualFold(k[:len(xFiberPrefix)], xFiberPrefix):
		return true
	case bytes.EqualFold(k, hSignature):
		return true
	case bytes.EqualFold(k, []byte("Host")), bytes.EqualFold(k, []byte("Content-Length")):
		return true
	case bytes.EqualFold(k, []byte("Content-Type")):
		return !call.keepType
	case bytes.EqualFold(k, []byte("Accept-Encoding")):
		// An encrypted response is split into lines and tokens: it must
		// arrive uncompressed.
		return call.encrypt
	}
	return false
}

// forward sends the request to the app and relays its answer. It returns a
// Code only when nothing was written to the validator yet.
func (h *Handler) forward(ctx *fasthttp.RequestCtx, r *route, call upstreamCall) Code {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)

	req.Header.SetMethodBytes(ctx.Method())
	uri := ctx.URI()
	req.SetRequestURIBytes(uri.Path())
	if q := uri.QueryString(); len(q) > 0 {
		req.URI().SetQueryStringBytes(q)
	}
	req.URI().SetHost(h.upHost) // fasthttp writes the Host header from the URI
	for k, v := range ctx.Request.Header.All() {
		if !skipRequestHeader(k, &call) {
			req.Header.AddBytesKV(k, v)
		}
	}
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
	if ip, ok := netip.AddrFromSlice(ctx.RemoteIP()); ok {
		var buf [48]byte
		req.Header.AddBytesV("X-Forwarded-For", ip.Unmap().AppendTo(buf[:0]))
	}
	req.SetBodyRaw(call.body)

	start := time.Now() // real time: Options.Now is the protocol clock
	err := h.upstream.DoDeadline(req, resp, start.Add(h.opts.UpstreamTimeout))
	h.opts.Metrics.Upstream(r.label, time.Since(start))
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		if errors.Is(err, fasthttp.ErrTimeout) {
			return CodeUpstreamTimeout
		}
		h.log.Warn("upstream request failed", "route", r.label, "err", err)
		return CodeUpstreamDown
	}
	h.upLastOK.Store(time.Now().UnixNano())
	if isStream(resp) {
		h.relayStream(ctx, resp, call)
		return ""
	}
	defer fasthttp.ReleaseResponse(resp)
	buf := getBuf()
	defer putBuf(buf)
	body, err := readBody(resp, (*buf)[:0])
	*buf = body
	if err != nil {
		if isTimeout(err) {
			return CodeUpstreamTimeout
		}
		return CodeUpstreamDown
	}
	copyResponseHeaders(&ctx.Response, resp, call.encrypt)
	if !call.encrypt {
		ctx.Response.SetBody(body)
		return ""
	}
	out := getBuf()
	defer putBuf(out)
	sealed, err := call.key.Seal((*out)[:0], body)
	*out = sealed
	if err != nil {
		return CodeInternal
	}
	ctx.Response.SetBody(sealed)
	return ""
}

// readBody appends a non-streamed upstream body to dst. fasthttp hands
// every body over as a stream because the client is set to stream.
func readBody(resp *fasthttp.Response, dst []byte) ([]byte, error) {
	st := resp.BodyStream()
	if st == nil {
		return append(dst, resp.Body()...), nil
	}
	n := resp.Header.ContentLength()
	if n > 0 && cap(dst) < n {
		dst = make([]byte, 0, n)
	}
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		m, err := st.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+m]
		if err == io.EOF {
			break
		}
		if err != nil {
			return dst, err
		}
	}
	if n >= 0 && len(dst) != n {
		return dst, io.ErrUnexpectedEOF
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

// copyResponseHeaders copies the app's status and headers to the
// validator's response, less hop-by-hop headers and the body's framing.
func copyResponseHeaders(dst *fasthttp.Response, src *fasthttp.Response, encrypt bool) {
	dst.SetStatusCode(src.StatusCode())
	for k, v := range src.Header.All() {
		switch {
		case isHopByHop(k),
			bytes.EqualFold(k, []byte("Content-Length")),
			bytes.EqualFold(k, []byte("Date")),
			len(k) > len(xFiberPrefix) && bytes.EqualFold(k[:len(xFiberPrefix)], xFiberPrefix):
		case bytes.EqualFold(k, []byte("Content-Type")):
			if !encrypt {
				dst.Header.SetContentTypeBytes(v)
			}
		case bytes.EqualFold(k, []byte("Server")):
			dst.Header.SetServerBytes(v)
		default:
			dst.Header.AddBytesKV(k, v)
		}
	}
	if encrypt {
		dst.Header.SetContentType("application/octet-stream")
		dst.Header.Set(headerEncrypted, "fernet")
	}
}
