package egress

import (
	"bytes"
	"encoding/binary"

	"github.com/fibergate/fibergate/client"
	"github.com/valyala/fasthttp"
)

// Header names are compared in any case and with "_" read as "-", the way
// a server on the far side might read them, so no spelling of a header
// egress sets or withholds slips through.

func fold(c byte) byte {
	switch {
	case c == '_':
		return '-'
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	}
	return c
}

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

func foldPrefix(name []byte, want string) bool {
	return len(name) >= len(want) && foldEq(name[:len(want)], want)
}

// hopByHop are the headers of one connection, not of the message (RFC 9110
// section 7.6.1): never forwarded, either way.
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

// signedHeaders are the headers egress writes itself for Fiber; a caller's
// header of the same name (in any spelling) never reaches the miner.
var signedHeaders = [...]string{
	client.HeaderValidatorHotkey, client.HeaderMinerHotkey, client.HeaderNonce,
	client.HeaderSignature, client.HeaderKeyUUID, "hotkey",
}

// connTokens are the header names a message's Connection headers list
// (RFC 9110 section 7.6.1: they are hop-by-hop too). At most 16 are kept.
type connTokens struct {
	n     int
	names [16][]byte
}

func (t *connTokens) add(v []byte) {
	for len(v) > 0 && t.n < len(t.names) {
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

func (t *connTokens) has(k []byte) bool {
	for _, name := range t.names[:t.n] {
		if len(name) == len(k) {
			same := true
			for i := range name {
				if fold(name[i]) != fold(k[i]) {
					same = false
					break
				}
			}
			if same {
				return true
			}
		}
	}
	return false
}

// dropRequestHeader reports whether a caller's header stays behind: the
// hop-by-hop ones, those the caller's Connection header names, egress's own
// X-Fibergate-*, the ones egress signs or sets for Fiber, and the framing
// (Host, Content-Length, Expect). keepType keeps the caller's Content-Type
// (signed mode sends the body as it is).
func dropRequestHeader(k []byte, conn *connTokens, keepType bool) bool {
	switch {
	case isHopByHop(k), conn.has(k):
		return true
	case foldPrefix(k, "x-fibergate-"), foldPrefix(k, "x-fiber-"):
		return true
	case foldEq(k, "host"), foldEq(k, "content-length"), foldEq(k, "expect"):
		return true
	case foldEq(k, "content-type"):
		return !keepType || bytes.IndexByte(k, '_') >= 0
	}
	for _, s := range signedHeaders {
		if foldEq(k, s) {
			return true
		}
	}
	return false
}

// stripRequestHeaders removes, in place, every header of the caller's
// request that must not reach the miner. The names are gathered first
// (deleting while iterating would skip some), each behind its length in
// buf, then deleted.
func stripRequestHeaders(req *fasthttp.Request, keepType bool, buf []byte) []byte {
	var conn connTokens
	for k, v := range req.Header.All() {
		if foldEq(k, "connection") {
			conn.add(v)
		}
	}
	names := buf[:0]
	for k := range req.Header.All() {
		if dropRequestHeader(k, &conn, keepType) {
			names = binary.AppendUvarint(names, uint64(len(k)))
			names = append(names, k...)
		}
	}
	rest := names
	for len(rest) > 0 {
		n, w := binary.Uvarint(rest)
		rest = rest[w:]
		req.Header.DelBytes(rest[:n])
		rest = rest[n:]
	}
	return names
}

// copyAnswerHeaders copies a miner's status and headers to the caller's
// response, less hop-by-hop headers, those the miner's Connection header
// names, the framing, the miner's Date (the server writes its own) and
// any X-Fibergate-* (only egress speaks for egress). A decrypted answer
// loses X-Fiber-Encrypted and gets the Content-Type the miner carried in
// X-Fiber-Content-Type, or none.
func copyAnswerHeaders(dst, src *fasthttp.Response, decrypted bool) {
	dst.SetStatusCode(src.StatusCode())
	src.Header.SetNoDefaultContentType(true)
	var conn connTokens
	var original []byte
	for k, v := range src.Header.All() {
		switch {
		case foldEq(k, "connection"):
			conn.add(v)
		case foldEq(k, "x-fiber-content-type"):
			original = v
		}
	}
	for k, v := range src.Header.All() {
		switch {
		case isHopByHop(k), conn.has(k), foldEq(k, "content-length"), foldEq(k, "date"),
			foldPrefix(k, "x-fibergate-"), foldEq(k, "x-fiber-encrypted"), foldEq(k, "x-fiber-content-type"):
		case foldEq(k, "content-type"):
			if !decrypted {
				dst.Header.SetContentTypeBytes(v)
			}
		case foldEq(k, "server"):
			dst.Header.SetServerBytes(v)
		default:
			dst.Header.AddBytesKV(k, v)
		}
	}
	if decrypted && len(original) > 0 {
		dst.Header.SetContentTypeBytes(original)
	}
}
