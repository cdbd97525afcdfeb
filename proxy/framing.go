package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

var (
	hTransferEncoding = []byte("transfer-encoding")
	hContentLength    = []byte("content-length")
	chunked           = []byte("chunked")
)

// badFraming reports a request whose body framing is ambiguous: both
// Content-Length and Transfer-Encoding, or a Transfer-Encoding other than
// plain "chunked". fasthttp picks one reading; a server behind another proxy
// might pick the other, which is how requests are smuggled (RFC 9112
// section 6.1), so such a request is refused outright.
func badFraming(req *fasthttp.Request) bool {
	raw := req.Header.RawHeaders()
	var te, cl bool
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		name := bytes.TrimSpace(line[:colon])
		switch {
		case bytes.EqualFold(name, hTransferEncoding):
			if te || !bytes.EqualFold(bytes.TrimSpace(line[colon+1:]), chunked) {
				return true
			}
			te = true
		case bytes.EqualFold(name, hContentLength):
			cl = true
		}
	}
	return te && cl
}

// allowedMethod reports whether fibergate forwards the method at all.
// CONNECT and TRACE, and anything unknown, never reach the app.
func allowedMethod(m []byte) bool {
	switch string(m) {
	case fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodPost, fasthttp.MethodPut,
		fasthttp.MethodPatch, fasthttp.MethodDelete, fasthttp.MethodOptions:
		return true
	}
	return false
}
