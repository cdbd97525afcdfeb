// Package headers holds the rules about header names that both halves of
// fibergate apply at their trust boundaries: names compared the way apps
// and servers read them (in any case, with "_" and "." read as "-", as
// WSGI, CGI and apps that map "." to "_" do), the hop-by-hop headers, and
// the headers a Connection header names, however many.
package headers

import (
	"bytes"
	"iter"
)

// Fold is c as names are compared: ASCII letters in lower case, "_" and
// "." as "-".
func Fold(c byte) byte {
	switch {
	case c == '_', c == '.':
		return '-'
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	}
	return c
}

// Is reports whether name, folded, equals want (lower case, "-").
func Is(name []byte, want string) bool {
	if len(name) != len(want) {
		return false
	}
	for i, c := range name {
		if Fold(c) != want[i] {
			return false
		}
	}
	return true
}

// HasPrefix reports whether name, folded, starts with want.
func HasPrefix(name []byte, want string) bool {
	return len(name) >= len(want) && Is(name[:len(want)], want)
}

// Plain reports whether a header name is made only of letters, digits and
// "-": a name with "_", "." or another token character is how one header
// passes for another in an app that maps them to one variable.
func Plain(k []byte) bool {
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
// (RFC 9110 section 7.6.1); a proxy must not forward them.
var hopByHop = [...]string{
	"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
	"proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
}

// HopByHop reports whether k names a hop-by-hop header.
func HopByHop(k []byte) bool {
	for _, h := range hopByHop {
		if Is(k, h) {
			return true
		}
	}
	return false
}

// manyNames is where ConnectionNames switches from a list to a set, so a
// header block naming thousands of headers costs linear time.
const manyNames = 32

// ConnectionNames are the header names a message's Connection headers
// list, however many: each is hop-by-hop too (RFC 9110 section 7.6.1). It
// refers to the message's buffers: use it while the message is alive, and
// Release it before.
type ConnectionNames struct {
	n     int
	names [manyNames][]byte
	set   map[string]struct{} // folded names, once there are more
}

// Read collects the names listed in every Connection header of a
// message's headers.
func (t *ConnectionNames) Read(all iter.Seq2[[]byte, []byte]) {
	for k, v := range all {
		if Is(k, "connection") {
			t.Add(v)
		}
	}
}

// Add collects the names a Connection header's value lists.
func (t *ConnectionNames) Add(v []byte) {
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

func (t *ConnectionNames) add(tok []byte) {
	if t.set == nil && t.n < manyNames {
		t.names[t.n] = tok
		t.n++
		return
	}
	if t.set == nil {
		t.set = make(map[string]struct{}, 2*manyNames)
		for _, name := range t.names[:t.n] {
			t.set[folded(name)] = struct{}{}
		}
	}
	t.set[folded(tok)] = struct{}{}
}

func folded(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = Fold(c)
	}
	return string(out)
}

// Has reports whether the Connection headers named k.
func (t *ConnectionNames) Has(k []byte) bool {
	if t.set != nil {
		var stack [128]byte
		f := stack[:0]
		for _, c := range k {
			f = append(f, Fold(c))
		}
		_, ok := t.set[string(f)]
		return ok
	}
	for _, name := range t.names[:t.n] {
		if len(name) == len(k) && sameFolded(name, k) {
			return true
		}
	}
	return false
}

// Release drops the references into the message's buffers.
func (t *ConnectionNames) Release() {
	clear(t.names[:t.n])
	t.n, t.set = 0, nil
}

func sameFolded(a, b []byte) bool {
	for i := range a {
		if Fold(a[i]) != Fold(b[i]) {
			return false
		}
	}
	return true
}
