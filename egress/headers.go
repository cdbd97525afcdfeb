package egress

import (
	"encoding/binary"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/internal/headers"
	"github.com/valyala/fasthttp"
)

// Header names are compared in any case and with "_" and "." read as
// "-" (package internal/headers), the way a server on the far side might
// read them, so no spelling of a header egress sets or withholds slips
// through.

// signedHeaders are the headers egress writes itself for Fiber; a caller's
// header of the same name (in any spelling) never reaches the miner.
var signedHeaders = [...]string{
	client.HeaderValidatorHotkey, client.HeaderMinerHotkey, client.HeaderNonce,
	client.HeaderSignature, client.HeaderKeyUUID, "hotkey",
}

// dropRequestHeader reports whether a caller's header stays behind: the
// hop-by-hop ones, those the caller's Connection header names, egress's own
// X-Fibergate-*, the ones egress signs or sets for Fiber, and the framing
// (Host, Content-Length, Expect). keepType keeps the caller's Content-Type
// (signed mode sends the body as it is).
func dropRequestHeader(k []byte, conn *headers.ConnectionNames, keepType bool) bool {
	switch {
	case headers.HopByHop(k), conn.Has(k):
		return true
	case headers.HasPrefix(k, "x-fibergate-"), headers.HasPrefix(k, "x-fiber-"):
		return true
	case headers.Is(k, "host"), headers.Is(k, "content-length"), headers.Is(k, "expect"):
		return true
	case headers.Is(k, "content-type"):
		return !keepType || !headers.Plain(k)
	}
	for _, s := range signedHeaders {
		if headers.Is(k, s) {
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
	var conn headers.ConnectionNames
	for k, v := range req.Header.All() {
		if headers.Is(k, "connection") {
			conn.Add(v)
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
	var conn headers.ConnectionNames
	var original []byte
	for k, v := range src.Header.All() {
		switch {
		case headers.Is(k, "connection"):
			conn.Add(v)
		case headers.Is(k, "x-fiber-content-type"):
			original = v
		}
	}
	for k, v := range src.Header.All() {
		switch {
		case headers.HopByHop(k), conn.Has(k), headers.Is(k, "content-length"), headers.Is(k, "date"),
			headers.HasPrefix(k, "x-fibergate-"), headers.Is(k, "x-fiber-encrypted"), headers.Is(k, "x-fiber-content-type"):
		case headers.Is(k, "content-type"):
			if !decrypted {
				dst.Header.SetContentTypeBytes(v)
			}
		case headers.Is(k, "server"):
			dst.Header.SetServerBytes(v)
		default:
			dst.Header.AddBytesKV(k, v)
		}
	}
	if decrypted && len(original) > 0 {
		dst.Header.SetContentTypeBytes(original)
	}
}
