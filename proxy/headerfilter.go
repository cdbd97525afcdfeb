package proxy

import (
	"bytes"
	"iter"

	"github.com/valyala/fasthttp"
)

// Header names are compared the way an app might read them: in any case,
// and with "_" read as "-" (WSGI and CGI servers map both to the same
// variable), so no spelling slips past a filter.

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
	case c == '_':
		return '-'
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	}
	return c
}

// hopByHop are the headers that describe one connection, not the message
// (RFC 9110 section 7.6.1); a proxy must not forward them.
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

// maxConnTokens bounds how many names a Connection header may remove; a
// message naming more has the rest ignored, which only keeps more headers
// from an untrusted sender out of nothing (every hop-by-hop header is
// removed anyway).
const maxConnTokens = 16

// connTokens are the header names a message's Connection headers list.
type connTokens struct {
	n     int
	names [maxConnTokens][]byte
}

// read collects the names listed in every Connection header of a
// message's headers.
func (t *connTokens) read(all iter.Seq2[[]byte, []byte]) {
	for k, v := range all {
		if !foldEq(k, "connection") {
			continue
		}
		for len(v) > 0 && t.n < maxConnTokens {
			var tok []byte
			if i := bytes.IndexByte(v, ','); i >= 0 {
				tok, v = v[:i], v[i+1:]
			} else {
				tok, v = v, nil
			}
			if tok = bytes.TrimSpace(tok); len(tok) > 0 {
				t.names[t.n] = tok
				t.n++
			}
		}
	}
}

// has reports whether the Connection headers named k.
func (t *connTokens) has(k []byte) bool {
	for _, name := range t.names[:t.n] {
		if len(name) == len(k) && equalFolded(name, k) {
			return true
		}
	}
	return false
}

func equalFolded(a, b []byte) bool {
	for i := range a {
		if fold(a[i]) != fold(b[i]) {
			return false
		}
	}
	return true
}

// fiberRequestHeaders are the names of Fiber's request headers. They reach
// the app as the validator sent them, but never in another spelling that
// an app could merge with them.
var fiberRequestHeaders = [...]string{"validator-hotkey", "miner-hotkey", "nonce", "signature", "symmetric-key-uuid", "hotkey"}

// dropRequestHeader reports whether an incoming header stays behind.
func dropRequestHeader(k []byte, call *upstreamCall, conn *connTokens) bool {
	switch {
	case isHopByHop(k), conn.has(k):
		return true
	case foldPrefix(k, "x-fiber-"):
		return true
	case foldPrefix(k, "x-forwarded-"), foldEq(k, "forwarded"), foldEq(k, "x-real-ip"):
		// Replaced by fibergate's own view of the client.
		return true
	case foldEq(k, "host"), foldEq(k, "content-length"):
		return true
	case foldEq(k, "signature"):
		return true
	case foldEq(k, "content-type"):
		return !call.keepType || bytes.IndexByte(k, '_') >= 0
	case foldEq(k, "accept-encoding"):
		// An encrypted response is split into lines and tokens: it must
		// arrive uncompressed.
		return call.encrypt || bytes.IndexByte(k, '_') >= 0
	}
	if bytes.IndexByte(k, '_') >= 0 {
		for _, f := range fiberRequestHeaders {
			if foldEq(k, f) {
				return true
			}
		}
	}
	return false
}

// maxStripped bounds the headers one request can have removed in place;
// past it the rest are removed in another pass.
const maxStripped = 32

// stripRequestHeaders removes from the validator's request, in place, every
// header that must not reach the app.
func stripRequestHeaders(req *fasthttp.Request, call *upstreamCall) {
	var conn connTokens
	conn.read(req.Header.All())
	for {
		// Names are gathered first: deleting while iterating would skip
		// some. They are copied, since deleting moves header storage.
		var names [maxStripped][]byte
		var scratch [1024]byte
		n, used, more := 0, 0, false
		for k := range req.Header.All() {
			if !dropRequestHeader(k, call, &conn) {
				continue
			}
			if n == maxStripped || used+len(k) > len(scratch) {
				more = true
				break
			}
			names[n] = append(scratch[used:used], k...)
			used += len(k)
			n++
		}
		for _, k := range names[:n] {
			req.Header.DelBytes(k)
		}
		if !more || n == 0 {
			if more {
				// A single name longer than the scratch space.
				stripLong(req, call, &conn)
			}
			return
		}
	}
}

// stripLong removes headers whose names are too long to gather on the
// stack, one at a time.
func stripLong(req *fasthttp.Request, call *upstreamCall, conn *connTokens) {
	for {
		var name []byte
		for k := range req.Header.All() {
			if dropRequestHeader(k, call, conn) {
				name = append([]byte(nil), k...)
				break
			}
		}
		if name == nil {
			return
		}
		req.Header.DelBytes(name)
	}
}

// copyResponseHeaders copies the app's status and headers to the
// validator's response, less hop-by-hop headers, those the app's
// Connection header names, and the body's framing. A missing Content-Type
// stays missing.
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
			}
		case foldEq(k, "server"):
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
