package proxy

import (
	"bytes"
	"strings"

	"github.com/valyala/fasthttp"
)

var (
	hTransferEncoding = []byte("transfer-encoding")
	hContentLength    = []byte("content-length")
	chunked           = []byte("chunked")
)

// badFraming reports a request whose header section cannot have one
// meaning: a field name that is not an HTTP token (a space in it, a line
// folded onto the one before, a line without a colon), both
// Content-Length and Transfer-Encoding, or a Transfer-Encoding other than
// plain "chunked". fasthttp picks one reading; a server behind another
// proxy might pick the other, which is how requests are smuggled (RFC
// 9112 sections 5 and 6.1), so such a request is refused outright.
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
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return true
		}
		name := line[:colon]
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

// isToken reports whether b is an HTTP token (RFC 9110 section 5.6.2),
// which every field name must be.
func isToken(b []byte) bool {
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return len(b) > 0
}

// canonicalMethod returns the spelling of a method fibergate forwards, and
// false for any other: CONNECT and TRACE, and anything unknown, never
// reach the app.
func canonicalMethod(m []byte) (string, bool) {
	for _, known := range [...]string{
		fasthttp.MethodGet, fasthttp.MethodPost, fasthttp.MethodHead, fasthttp.MethodPut,
		fasthttp.MethodPatch, fasthttp.MethodDelete, fasthttp.MethodOptions,
	} {
		if string(m) == known {
			return known, true
		}
	}
	return "", false
}

// methodHasBody reports whether a body is part of the method's meaning:
// one to decrypt or check. Servers may ignore the body of a GET, HEAD,
// OPTIONS or DELETE.
func methodHasBody(m string) bool {
	switch m {
	case fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodOptions, fasthttp.MethodDelete:
		return false
	}
	return true
}
