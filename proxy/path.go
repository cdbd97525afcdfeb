package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// The path rule. A request path is decoded once; what has no single
// meaning once decoded is refused; dot segments are resolved and runs of
// "/" merged; routes match the result, and the app receives the same path
// re-encoded, so an app that decodes it (once, or again) reads exactly what
// the routes saw. Refused, with 400 bad_path:
//   - an escape that is not "%" and two hex digits;
//   - control bytes (0x00-0x1F, 0x7F), raw or encoded;
//   - an encoded "/", "?" or "#", which would split or end the path once
//     an app decodes it, and "\", raw or encoded, which some servers read
//     as "/";
//   - a decoded "%" followed by two hex digits: "%2569" is "%69" after one
//     decoding and "i" after two, so its meaning depends on the app.

// pathKeep are the bytes forwarded as they are; every other byte of the
// decoded path is sent as %XX. It is RFC 3986's pchar less "+" and ";",
// which some frameworks read as a space and as a parameter separator.
var pathKeep = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~!$&'()*,=:@/" {
		t[c] = true
	}
	return t
}()

// unhex reads one hex digit of an escape. It stays written out here, where
// it inlines, while crypto/sr25519 reads signatures with encoding/hex:
// hex.Decode called per escape made escaped paths about a quarter slower
// in BenchmarkCleanPath.
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func isControl(c byte) bool { return c < 0x20 || c == 0x7f }

// cleanPath decodes the raw request path into dst per the path rule and
// returns the decoded, normalized path, which starts with "/". ok is false
// for a path the rule refuses.
func cleanPath(dst, raw []byte) ([]byte, bool) {
	if len(raw) == 0 || raw[0] != '/' {
		return dst[:0], false
	}
	dst = append(dst[:0], '/')
	seg := 1 // where the current segment starts in dst
	for i := 1; i <= len(raw); i++ {
		if i == len(raw) || raw[i] == '/' {
			switch string(dst[seg:]) {
			case "": // an empty segment: runs of "/" merge
			case ".":
				dst = dst[:seg]
			case "..":
				dst = dst[:seg]
				if seg > 1 {
					dst = dst[:bytes.LastIndexByte(dst[:seg-1], '/')+1]
				}
			default:
				if i < len(raw) {
					dst = append(dst, '/')
				}
			}
			seg = len(dst)
			continue
		}
		c := raw[i]
		switch {
		case c == '%':
			if i+2 >= len(raw) {
				return dst, false
			}
			hi, ok1 := unhex(raw[i+1])
			lo, ok2 := unhex(raw[i+2])
			if !ok1 || !ok2 {
				return dst, false
			}
			c = hi<<4 | lo
			i += 2
			if c == '/' || c == '?' || c == '#' || c == '\\' || isControl(c) {
				return dst, false
			}
		case c == '\\', c == '?', c == '#', isControl(c):
			return dst, false
		}
		dst = append(dst, c)
	}
	// A decoded "%" must not start another escape.
	for j := bytes.IndexByte(dst, '%'); j >= 0 && j+2 < len(dst); {
		if isHex(dst[j+1]) && isHex(dst[j+2]) {
			return dst, false
		}
		k := bytes.IndexByte(dst[j+1:], '%')
		if k < 0 {
			break
		}
		j += 1 + k
	}
	return dst, true
}

const upperHex = "0123456789ABCDEF"

// escapePath appends the canonical encoding of a cleaned path to dst.
func escapePath(dst, path []byte) []byte {
	for _, c := range path {
		if pathKeep[c] {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
	}
	return dst
}

// queryKeep are the bytes of a query string forwarded as they are: every
// printable ASCII byte a request line may carry. Others (space, non-ASCII,
// the few printable bytes RFC 3986 excludes) are escaped; escapes already
// there stay, since the query's meaning is the app's.
var queryKeep = func() (t [256]bool) {
	for c := 0x21; c < 0x7f; c++ {
		t[c] = true
	}
	for _, c := range "\"<>\\^`{|}#" {
		t[c] = false
	}
	return t
}()

// escapeQuery appends q to dst with the bytes a request line cannot carry
// escaped. ok is false when q holds a raw control byte.
func escapeQuery(dst, q []byte) ([]byte, bool) {
	for _, c := range q {
		switch {
		case queryKeep[c]:
			dst = append(dst, c)
		case isControl(c):
			return dst, false
		default:
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return dst, true
}

// canonicalTarget applies the path rule to a request's URI. It appends the
// decoded path and then the request target the app receives (the escaped
// path and the query) to dst, and returns the whole buffer and the two
// parts of it. ok is false when the rule refuses the path or the query
// holds a control byte.
func canonicalTarget(dst []byte, uri *fasthttp.URI) (buf, path, target []byte, ok bool) {
	dst, ok = cleanPath(dst, uri.PathOriginal())
	if !ok {
		return dst, nil, nil, false
	}
	n := len(dst)
	dst = escapePath(dst, dst[:n])
	if q := uri.QueryString(); len(q) > 0 {
		dst = append(dst, '?')
		if dst, ok = escapeQuery(dst, q); !ok {
			return dst, nil, nil, false
		}
	}
	return dst, dst[:n], dst[n:], true
}

func isHex(c byte) bool {
	_, ok := unhex(c)
	return ok
}
