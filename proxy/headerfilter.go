package proxy

import (
	"bytes"
	"iter"

	"github.com/valyala/fasthttp"
)

// Header names are compared the way an app might read them: in any case,
// and with "_" and "." read as "-" (WSGI and CGI servers map "-" and "_"
// to one variable, and some apps map "." to "_" first), so no spelling
// slips past a rule.

// foldEq reports whether name, folded, equals want (lower case, "-").
func foldEq(name []byte, want string) bool {
	if len(name) != len(want) {
		return false
	}
	for i, c := range name {
		if fold(c) != want[i] {
			return false
		}
	}
	return true
}

// foldPrefix reports whether name, folded, starts with want.
func foldPrefix(name []byte, want string) bool {
	return len(name) >= len(want) && foldEq(name[:len(want)], want)
}

func fold(c byte) byte {
	switch {
	case c == '_', c == '.':
		return '-'
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	}
	return c
}

// plainName reports whether a header name is made only of letters, digits
// and "-". Only such names reach the app: a name with "_", "." or another
// token character is how one header passes for another in an app that maps
// them to one variable, and no browser or Fiber client sends one (nginx
// drops "_" names by default for the same reason).
func plainName(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	for _, c := range k {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// hopByHop are the headers that describe one connection, not the message
// (RFC 9110 section 7.6.1), and Expect, which asks this hop to answer
// 100 Continue (fibergate's server does); a proxy must not forward them.
var hopByHop = [...]string{
	"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
	"proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
}

func isHopByHop(k []byte) bool {
	for _, h := range hopByHop {
		if foldEq(k, h) {
			return true
		}
	}
	return false
}

// fibergateOwned are the names, or name prefixes ending in "-", of headers
// whose meaning fibergate states to the app and a client must not: who
// the validator is (x-fiber-*), who and where the client is, and which
// URL, method or scheme the request has. Apps and their middlewares
// (Symfony, IIS, ASP.NET, Express method-override, Laravel, Rails,
// Werkzeug's ProxyFix, gunicorn, Spring) believe these and would route or
// act on a request other than the one the routes checked.
var fibergateOwned = [...]string{
	"x-fiber-",
	// The client and the front end.
	"forwarded", "forwarded-", "x-forwarded", "x-forwarded-", "x-real-ip",
	"x-client-ip", "client-ip", "true-client-ip", "cf-connecting-ip",
	"fastly-client-ip", "x-cluster-client-ip", "x-originating-ip",
	"x-remote-ip", "x-remote-addr", "x-proxyuser-ip", "x-envoy-",
	// The URL, method and scheme.
	"x-original-", "x-rewrite-url", "x-http-method", "x-http-method-override",
	"x-method-override", "x-http-host-override", "x-host", "x-scheme",
	"x-url-scheme", "x-script-name", "front-end-https",
	// Framing and the target, which fibergate sets.
	"host", "content-length", "expect",
	// Fiber's signature, which the app has no use for.
	"signature",
}

func isFibergateOwned(k []byte) bool {
	for _, name := range fibergateOwned {
		if name[len(name)-1] == '-' {
			if foldPrefix(k, name) {
				return true
			}
		} else if foldEq(k, name) {
			return true
		}
	}
	return false
}

// forwardRequestHeader reports whether a header of the validator's request
// reaches the app: a plainly named, end-to-end header that is not the
// Connection header's to remove nor fibergate's to state.
func forwardRequestHeader(k []byte, call *upstreamCall, conn *connTokens) bool {
	switch {
	case !plainName(k), isHopByHop(k), conn.has(k), isFibergateOwned(k):
		return false
	case foldEq(k, "content-type"):
		return call.keepType
	case foldEq(k, "accept-encoding"):
		// An encrypted response is split into lines and tokens: it must
		// arrive uncompressed.
		return !call.encrypt
	}
	return true
}

// copyRequestHeaders adds to dst the headers of src's header section that
// forwardRequestHeader lets through, in order. Trailer fields are kept
// apart by fasthttp and never iterated here.
func copyRequestHeaders(dst, src *fasthttp.RequestHeader, call *upstreamCall) {
	var conn connTokens
	conn.read(src.All())
	for k, v := range src.All() {
		if forwardRequestHeader(k, call, &conn) {
			dst.AddBytesKV(k, v)
		}
	}
	conn.release()
}

// manyConnTokens is where connTokens switches from a list to a set, so a
// header block naming thousands of headers costs linear time.
const manyConnTokens = 32

// connTokens are the header names a message's Connection headers list,
// however many: each is removed.
type connTokens struct {
	n     int
	names [manyConnTokens][]byte
	set   map[string]struct{} // folded names, once there are more
}

// read collects the names listed in every Connection header of a
// message's headers.
func (t *connTokens) read(all iter.Seq2[[]byte, []byte]) {
	for k, v := range all {
		if !foldEq(k, "connection") {
			continue
		}
		for len(v) > 0 {
			var tok []byte
			if i := bytes.IndexByte(v, ','); i >= 0 {
				tok, v = v[:i], v[i+1:]
			} else {
				tok, v = v, nil
			}
			if tok = bytes.TrimSpace(tok); len(tok) > 0 {
				t.add(tok)
			}
		}
	}
}

func (t *connTokens) add(tok []byte) {
	if t.set == nil && t.n < manyConnTokens {
		t.names[t.n] = tok
		t.n++
		return
	}
	if t.set == nil {
		t.set = make(map[string]struct{}, 2*manyConnTokens)
		for _, name := range t.names[:t.n] {
			t.set[foldedString(name)] = struct{}{}
		}
	}
	t.set[foldedString(tok)] = struct{}{}
}

func foldedString(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = fold(c)
	}
	return string(out)
}

// has reports whether the Connection headers named k.
func (t *connTokens) has(k []byte) bool {
	if t.set != nil {
		var stack [128]byte
		f := stack[:0]
		for _, c := range k {
			f = append(f, fold(c))
		}
		_, ok := t.set[string(f)]
		return ok
	}
	for _, name := range t.names[:t.n] {
		if len(name) == len(k) && equalFolded(name, k) {
			return true
		}
	}
	return false
}

// release drops the references into the message's buffers.
func (t *connTokens) release() {
	clear(t.names[:t.n])
	t.n, t.set = 0, nil
}

func equalFolded(a, b []byte) bool {
	for i := range a {
		if fold(a[i]) != fold(b[i]) {
			return false
		}
	}
	return true
}

// copyResponseHeaders copies the app's status and headers to the
// validator's response, less hop-by-hop headers, those the app's
// Connection header names, and the body's framing. A missing Content-Type
// stays missing. An encrypted answer is application/octet-stream, with the
// app's Content-Type in X-Fiber-Content-Type.
func copyResponseHeaders(dst *fasthttp.Response, src *fasthttp.Response, encrypt bool) {
	dst.SetStatusCode(src.StatusCode())
	src.Header.SetNoDefaultContentType(true)
	var conn connTokens
	conn.read(src.Header.All())
	for k, v := range src.Header.All() {
		switch {
		case isHopByHop(k), conn.has(k),
			foldEq(k, "content-length"),
			foldEq(k, "date"),
			foldPrefix(k, "x-fiber-"):
		case foldEq(k, "content-type"):
			if !encrypt {
				dst.Header.SetContentTypeBytes(v)
			} else {
				// The sealed body's type is octet-stream; the app's own
				// travels beside it, so a client that decrypts (fibergate
				// egress) can restore it.
				dst.Header.SetBytesV(headerContentType, v)
			}
		case foldEq(k, "server"):
			dst.Header.SetServerBytes(v)
		default:
			dst.Header.AddBytesKV(k, v)
		}
	}
	conn.release()
	if encrypt {
		dst.Header.SetContentType("application/octet-stream")
		dst.Header.Set(headerEncrypted, "fernet")
	}
}
