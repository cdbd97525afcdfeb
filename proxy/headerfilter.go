package proxy

import (
	"github.com/fibergate/fibergate/internal/headers"
	"github.com/valyala/fasthttp"
)

// Header names are compared the way an app might read them (see package
// internal/headers): in any case, and with "_" and "." read as "-", so no
// spelling slips past a rule.

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
			if headers.HasPrefix(k, name) {
				return true
			}
		} else if headers.Is(k, name) {
			return true
		}
	}
	return false
}

// forwardRequestHeader reports whether a header of the validator's request
// reaches the app: a plainly named, end-to-end header that is not the
// Connection header's to remove nor fibergate's to state.
func forwardRequestHeader(k []byte, call *upstreamCall, conn *headers.ConnectionNames) bool {
	switch {
	case !headers.Plain(k), headers.HopByHop(k), conn.Has(k), isFibergateOwned(k):
		return false
	case headers.Is(k, "content-type"):
		return call.keepType
	case headers.Is(k, "accept-encoding"):
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
	var conn headers.ConnectionNames
	conn.Read(src.All())
	for k, v := range src.All() {
		if forwardRequestHeader(k, call, &conn) {
			dst.AddBytesKV(k, v)
		}
	}
	conn.Release()
}

// copyResponseHeaders copies the app's status and headers to the
// validator's response, less hop-by-hop headers, those the app's
// Connection header names, and the body's framing. A missing Content-Type
// stays missing. An encrypted answer is application/octet-stream, with the
// app's Content-Type in X-Fiber-Content-Type.
func copyResponseHeaders(dst *fasthttp.Response, src *fasthttp.Response, encrypt bool) {
	dst.SetStatusCode(src.StatusCode())
	src.Header.SetNoDefaultContentType(true)
	var conn headers.ConnectionNames
	conn.Read(src.Header.All())
	for k, v := range src.Header.All() {
		switch {
		case headers.HopByHop(k), conn.Has(k),
			headers.Is(k, "content-length"),
			headers.Is(k, "date"),
			headers.HasPrefix(k, "x-fiber-"):
		case headers.Is(k, "content-type"):
			if !encrypt {
				dst.Header.SetContentTypeBytes(v)
			} else {
				// The sealed body's type is octet-stream; the app's own
				// travels beside it, so a client that decrypts (fibergate
				// egress) can restore it.
				dst.Header.SetBytesV(headerContentType, v)
			}
		case headers.Is(k, "server"):
			dst.Header.SetServerBytes(v)
		default:
			dst.Header.AddBytesKV(k, v)
		}
	}
	conn.Release()
	if encrypt {
		dst.Header.SetContentType("application/octet-stream")
		dst.Header.Set(headerEncrypted, "fernet")
	}
}
