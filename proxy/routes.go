package proxy

import "strings"

// Mode says what a route requires of a request.
type Mode uint8

const (
	// ModeEncrypted requires signed headers, a known key and a Fernet body.
	ModeEncrypted Mode = iota
	// ModeSigned is Fiber 2.x's light mode: signed headers over the body's
	// SHA-256, body passed on as it is.
	ModeSigned
	// ModePublic passes requests on with no checks.
	ModePublic
	// ModeDeny answers 404 without contacting the upstream.
	ModeDeny
)

// String returns the mode's config spelling.
func (m Mode) String() string {
	switch m {
	case ModeEncrypted:
		return "encrypted"
	case ModeSigned:
		return "signed"
	case ModePublic:
		return "public"
	case ModeDeny:
		return "deny"
	}
	return "unknown"
}

// ResponseMode says how the upstream's answer is relayed to the validator.
type ResponseMode uint8

const (
	// ResponseAuto encrypts when the request asks for it with
	// X-Fiber-Response-Encryption: fernet, and is plain otherwise.
	ResponseAuto ResponseMode = iota
	// ResponseEncrypted always encrypts under the request's key.
	ResponseEncrypted
	// ResponsePlain relays the app's response as it is.
	ResponsePlain
)

// String returns the response mode's config spelling.
func (r ResponseMode) String() string {
	switch r {
	case ResponseAuto:
		return "auto"
	case ResponseEncrypted:
		return "encrypted"
	case ResponsePlain:
		return "plain"
	}
	return "unknown"
}

// Route is one entry of the route table. Path is an exact path, a prefix
// ending in "/*", or "*" for everything. Paths match without regard to
// ASCII case or one trailing "/", because apps route that way (Express
// and ASP.NET ignore case; most frameworks treat "/p/" as "/p"): a deny or
// signed route must not be walked past by spelling its path differently.
// So "/p" matches "/p", "/P" and "/p/", and "/p/*" matches "/p", "/p/"
// and everything under "/p/". The three non-ASCII letters whose case
// mapping is an ASCII letter (ı, ſ and the Kelvin sign K, which .NET and
// others fold to i, s and k) count as that letter.
type Route struct {
	Path     string
	Mode     Mode
	Response ResponseMode
}

// route is a compiled Route with its metric label.
type route struct {
	Route
	base   string // the folded path without a trailing "/" ("" for "/*")
	prefix bool   // "/x/*"
	all    bool   // "*"
	label  string // the metric label: the configured path, or "default"
}

// routeTable matches request paths in order; the first match wins and an
// unmatched path takes def. It is immutable once built.
type routeTable struct {
	routes []route
	def    route
}

func newRouteTable(rs []Route, def Route) *routeTable {
	t := &routeTable{def: route{Route: def, all: true, label: "default"}}
	for _, r := range rs {
		c := route{Route: r, label: r.Path}
		switch {
		case r.Path == "*":
			c.all = true
		case strings.HasSuffix(r.Path, "/*"):
			c.prefix = true
			c.base = string(foldPath(nil, []byte(strings.TrimSuffix(r.Path, "/*"))))
		default:
			c.base = string(foldPath(nil, []byte(r.Path)))
		}
		t.routes = append(t.routes, c)
	}
	return t
}

// foldPath appends to dst the path as routes compare it: ASCII letters in
// lower case, ı, ſ and K as i, s and k, and one trailing "/" dropped from
// a path other than "/".
func foldPath(dst, p []byte) []byte {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == 0xc4 && i+1 < len(p) && p[i+1] == 0xb1: // ı U+0131
			c, i = 'i', i+1
		case c == 0xc5 && i+1 < len(p) && p[i+1] == 0xbf: // ſ U+017F
			c, i = 's', i+1
		case c == 0xe2 && i+2 < len(p) && p[i+1] == 0x84 && p[i+2] == 0xaa: // K U+212A
			c, i = 'k', i+2
		}
		dst = append(dst, c)
	}
	if len(dst) > 1 && dst[len(dst)-1] == '/' {
		dst = dst[:len(dst)-1]
	}
	return dst
}

// match returns the route for a decoded, canonical path (no runs of "/").
// It does not allocate for paths up to 256 bytes.
func (t *routeTable) match(path []byte) *route {
	var stack [256]byte
	p := foldPath(stack[:0], path)
	for i := range t.routes {
		r := &t.routes[i]
		switch {
		case r.all:
			return r
		case r.prefix:
			if len(p) >= len(r.base) && string(p[:len(r.base)]) == r.base &&
				(len(p) == len(r.base) || p[len(r.base)] == '/') {
				return r
			}
		case string(p) == r.base:
			return r
		}
	}
	return &t.def
}
