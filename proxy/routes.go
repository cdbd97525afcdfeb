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

// Response says how the upstream's answer is relayed to the validator.
type Response uint8

const (
	// ResponseAuto encrypts when the request asks for it with
	// X-Fiber-Response-Encryption: fernet, and is plain otherwise.
	ResponseAuto Response = iota
	// ResponseEncrypted always encrypts under the request's key.
	ResponseEncrypted
	// ResponsePlain relays the app's response as it is.
	ResponsePlain
)

// String returns the response mode's config spelling.
func (r Response) String() string {
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
// ending in "/*" (matching every path that starts with the part before the
// "*"), or "*" for everything.
type Route struct {
	Path     string
	Mode     Mode
	Response Response
}

// route is a compiled Route with its metric label.
type route struct {
	Route
	exact  string // set for exact paths
	prefix string // set for "/x/*": "/x/"
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
			c.prefix = strings.TrimSuffix(r.Path, "*")
		default:
			c.exact = r.Path
		}
		t.routes = append(t.routes, c)
	}
	return t
}

// match returns the route for path. It does not allocate.
func (t *routeTable) match(path []byte) *route {
	for i := range t.routes {
		r := &t.routes[i]
		switch {
		case r.all:
			return r
		case r.prefix != "":
			if len(path) >= len(r.prefix) && string(path[:len(r.prefix)]) == r.prefix {
				return r
			}
		case string(path) == r.exact:
			return r
		}
	}
	return &t.def
}
