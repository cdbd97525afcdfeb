package proxy

import (
	"bytes"
	"encoding/binary"
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

// stripRequestHeaders removes from the validator's request, in place, every
// header that must not reach the app. The names are gathered first, each
// copied behind its length into a pooled buffer (deleting while iterating
// would skip some, and deleting moves header storage), then deleted.
func stripRequestHeaders(req *fasthttp.Request, call *upstreamCall) {
	var conn connTokens
	conn.read(req.Header.All())
	buf := getBuf()
	defer putBuf(buf)
	names := (*buf)[:0]
	for k := range req.Header.All() {
		if dropRequestHeader(k, call, &conn) {
			names = binary.AppendUvarint(names, uint64(len(k)))
			names = append(names, k...)
		}
	}
	*buf = names
	for len(names) > 0 {
		n, w := binary.Uvarint(names)
		names = names[w:]
		req.Header.DelBytes(names[:n])
		names = names[n:]
	}
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
	if encrypt {
		dst.Header.SetContentType("application/octet-stream")
		dst.Header.Set(headerEncrypted, "fernet")
	}
}
