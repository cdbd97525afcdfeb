// Package jsontext checks JSON text in one pass without building values,
// and finds the members of a top-level object, so that both halves of
// fibergate can read or rewrite the field Fiber adds to every encrypted
// body (its "nonce") without decoding the rest: every other byte stays
// as it was, large integers and number spellings included.
package jsontext

import (
	"encoding/json"
	"unicode/utf8"
)

// Member is one member of a top-level object: its key's raw text, quotes
// included, whether the key holds an escape, and where its value lies.
type Member struct {
	Key                  []byte
	Escaped              bool
	ValueStart, ValueEnd int
}

// Object checks that b is exactly one JSON object (whitespace around it
// allowed), valid RFC 8259 text in valid UTF-8, whose containers nest at
// most maxNest levels below it, and calls each, when not nil, with every
// top-level member in order. It returns where the object begins and ends
// in b, and whether b is such an object; each has been called on the
// members before the first error.
func Object(b []byte, maxNest int, each func(m Member)) (start, end int, ok bool) {
	return top(b, maxNest, '{', each)
}

// Array checks that b is exactly one JSON array, as Object checks an
// object, and calls each, when not nil, with where every element lies.
func Array(b []byte, maxNest int, each func(start, end int)) (ok bool) {
	var f func(Member)
	if each != nil {
		f = func(m Member) { each(m.ValueStart, m.ValueEnd) }
	}
	_, _, ok = top(b, maxNest, '[', f)
	return ok
}

// top checks that b is exactly one object or array (as open says) and
// hands each of its members or elements to each; an element has no key.
func top(b []byte, maxNest int, open byte, each func(m Member)) (start, end int, ok bool) {
	s := scanner{b: b, maxNest: maxNest}
	s.space()
	if s.i >= len(b) || b[s.i] != open {
		return 0, 0, false
	}
	closing := byte(']')
	if open == '{' {
		closing = '}'
	}
	start = s.i
	s.i++
	s.space()
	if s.i < len(b) && b[s.i] == closing {
		s.i++
	} else {
		for {
			s.space()
			var m Member
			if open == '{' {
				keyStart := s.i
				escaped, ok := s.str()
				if !ok {
					return 0, 0, false
				}
				m.Key, m.Escaped = b[keyStart:s.i], escaped
				s.space()
				if s.i >= len(b) || b[s.i] != ':' {
					return 0, 0, false
				}
				s.i++
				s.space()
			}
			m.ValueStart = s.i
			if !s.value(1) {
				return 0, 0, false
			}
			m.ValueEnd = s.i
			if each != nil {
				each(m)
			}
			s.space()
			if s.i >= len(b) {
				return 0, 0, false
			}
			if b[s.i] == ',' {
				s.i++
				continue
			}
			if b[s.i] != closing {
				return 0, 0, false
			}
			s.i++
			break
		}
	}
	end = s.i
	s.space()
	if s.i != len(b) {
		return 0, 0, false
	}
	return start, end, true
}

// KeyIs reports whether a member's key decodes to name, in any spelling
// (an escaped "non\u0063e" is "nonce" to the app's JSON parser too).
func (m Member) KeyIs(name string) bool {
	if !m.Escaped {
		return len(m.Key) == len(name)+2 && string(m.Key[1:len(m.Key)-1]) == name
	}
	if len(m.Key) > 6*len(name)+2 {
		return false
	}
	var s string
	return json.Unmarshal(m.Key, &s) == nil && s == name
}

// scanner checks JSON text; i is where it is.
type scanner struct {
	b       []byte
	i       int
	maxNest int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value checks one value starting at i; a container there is at level
// nest below the top-level object.
func (s *scanner) value(nest int) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '{', '[':
		if nest > s.maxNest {
			return false
		}
		return s.container(nest)
	case '"':
		_, ok := s.str()
		return ok
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	return s.number()
}

// container checks an object or array starting at i.
func (s *scanner) container(nest int) bool {
	obj := s.b[s.i] == '{'
	closing := byte(']')
	if obj {
		closing = '}'
	}
	s.i++
	s.space()
	if s.i < len(s.b) && s.b[s.i] == closing {
		s.i++
		return true
	}
	for {
		s.space()
		if obj {
			if _, ok := s.str(); !ok {
				return false
			}
			s.space()
			if s.i >= len(s.b) || s.b[s.i] != ':' {
				return false
			}
			s.i++
			s.space()
		}
		if !s.value(nest + 1) {
			return false
		}
		s.space()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case closing:
			s.i++
			return true
		default:
			return false
		}
	}
}

func (s *scanner) literal(word string) bool {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	return true
}

// str checks a string starting at i (a '"') and reports whether it holds
// an escape.
func (s *scanner) str() (escaped, ok bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return false, false
	}
	i := s.i + 1
	for i < len(s.b) {
		c := s.b[i]
		switch {
		case c == '"':
			s.i = i + 1
			return escaped, true
		case c == '\\':
			escaped = true
			if i+1 >= len(s.b) {
				return false, false
			}
			switch s.b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s.b) || !isHex4(s.b[i+2:i+6]) {
					return false, false
				}
				i += 6
			default:
				return false, false
			}
		case c < 0x20:
			return false, false
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(s.b[i:])
			if r == utf8.RuneError && n == 1 {
				return false, false
			}
			i += n
		}
	}
	return false, false
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// number checks a JSON number starting at i:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
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
		start := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	s.i = i
	return true
}
