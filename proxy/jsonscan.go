package proxy

import (
	"bytes"

	"github.com/fibergate/fibergate/internal/jsontext"
)

// maxJSONNest bounds nesting in decrypted bodies, so a body of brackets
// cannot exhaust the stack.
const maxJSONNest = 256

// bodyNonce checks that a decrypted body is one valid JSON object and
// returns its top-level "nonce" string (the field Fiber's client adds before
// encrypting). It validates the whole text in one pass without building
// values, so it costs about as much as reading the body once.
func bodyNonce(b []byte) ([]byte, Code) {
	var nonce []byte
	have, dup := false, false
	_, _, ok := jsontext.Object(b, maxJSONNest, func(m jsontext.Member) {
		if !m.KeyIs("nonce") {
			return
		}
		dup = dup || have
		have = true
		nonce = nil
		v := b[m.ValueStart:m.ValueEnd]
		// Only a plain string is a nonce: an escaped one would read
		// differently to the app's parser than to a byte comparison.
		if len(v) >= 2 && v[0] == '"' && bytes.IndexByte(v, '\\') < 0 {
			nonce = v[1 : len(v)-1]
		}
	})
	switch {
	case !ok || dup:
		return nil, CodeInvalidJSON
	case !have:
		return nil, CodeBodyNonceMissing
	case nonce == nil:
		return nil, CodeBodyNonceInvalid // present but not a plain string
	}
	return nonce, ""
}

// isJSONObject reports whether b is one valid JSON object (whitespace
// around it allowed). Such a body cannot be read as an HTTP request by an
// app that ignores it: after any blank lines, its first line begins with
// "{", which no HTTP server takes for a request line.
func isJSONObject(b []byte) bool {
	_, _, ok := jsontext.Object(b, maxJSONNest, nil)
	return ok
}
