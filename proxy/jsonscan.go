package proxy

import (
	"encoding/json"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting in decrypted bodies, so a body of brackets
// cannot exhaust the stack.
const maxJSONDepth = 256

// bodyNonce checks that a decrypted body is one valid JSON object and
// returns its top-level "nonce" string (the field Fiber's client adds before
// encrypting). It validates the whole text in one pass without building
// values, so it costs about as much as reading the body once.
func bodyNonce(b []byte) ([]byte, Code) {
	if !utf8.Valid(b) {
		return nil, CodeInvalidJSON
	}
	s := jsonScanner{b: b}
	s.space()
	if s.i >= len(b) || b[s.i] != '{' {
		return nil, CodeInvalidJSON
	}
	if !s.object(0, true) {
		return nil, CodeInvalidJSON
	}
	s.space()
	if s.i != len(b) || s.dupNonce {
		return nil, CodeInvalidJSON
	}
	switch {
	case !s.haveNonce:
		return nil, CodeBodyNonceMissing
	case s.nonce == nil:
		return nil, CodeBodyNonceInvalid // present but not a plain string
	}
	return s.nonce, ""
}

// isJSONObject reports whether b is one valid JSON object (whitespace
// around it allowed). Such a body cannot be read as an HTTP request by an
// app that ignores it: after any blank lines, its first line begins with
// "{", which no HTTP server takes for a request line.
func isJSONObject(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	s := jsonScanner{b: b}
	s.space()
	if s.i >= len(b) || b[s.i] != '{' || !s.object(0, false) {
		return false
	}
	s.space()
	return s.i == len(b)
}

type jsonScanner struct {
	b         []byte
	i         int
	nonce     []byte
	haveNonce bool
	dupNonce  bool
}

func (s *jsonScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) value(depth int) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(depth+1, false)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		_, _, ok := s.str()
		return ok
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		return s.number()
	}
}

// object scans {...}; top marks the body's outermost object, whose "nonce"
// member is captured.
func (s *jsonScanner) object(depth int, top bool) bool {
	if depth > maxJSONDepth {
		return false
	}
	s.i++ // '{'
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return true
	}
	for {
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return false
		}
		key, escaped, ok := s.str()
		if !ok {
			return false
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.space()
		if top && isNonceKey(key, escaped) {
			if s.haveNonce {
				s.dupNonce = true
			}
			s.haveNonce = true
			if s.i < len(s.b) && s.b[s.i] == '"' {
				v, esc, ok := s.str()
				if !ok {
					return false
				}
				if !esc {
					s.nonce = v
				}
			} else if !s.value(depth) {
				return false
			}
		} else if !s.value(depth) {
			return false
		}
		s.space()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

func (s *jsonScanner) array(depth int) bool {
	if depth > maxJSONDepth {
		return false
	}
	s.i++ // '['
	s.space()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return true
	}
	for {
		s.space()
		if !s.value(depth) {
			return false
		}
		s.space()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return true
		default:
			return false
		}
	}
}

// str scans a string at s.i and returns its raw contents (between the
// quotes) and whether it holds escapes.
func (s *jsonScanner) str() (raw []byte, escaped, ok bool) {
	start := s.i + 1
	for i := start; i < len(s.b); i++ {
		switch c := s.b[i]; {
		case c == '"':
			s.i = i + 1
			return s.b[start:i], escaped, true
		case c == '\\':
			escaped = true
			i++
			if i >= len(s.b) {
				return nil, false, false
			}
			switch s.b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s.b) {
					return nil, false, false
				}
				for _, h := range s.b[i+1 : i+5] {
					if !isHex(h) {
						return nil, false, false
					}
				}
				i += 4
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		}
	}
	return nil, false, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func (s *jsonScanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// number scans a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jsonScanner) number() bool {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	s.i = i
	return true
}

// isNonceKey reports whether a member name is "nonce", decoding escapes
// (a key spelled "non\u0063e" is "nonce" to the app's JSON parser too).
func isNonceKey(raw []byte, escaped bool) bool {
	if !escaped {
		return string(raw) == "nonce"
	}
	var k string
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	return json.Unmarshal(q, &k) == nil && k == "nonce"
}
