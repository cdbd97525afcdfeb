package loadgen

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// maxResponseBody bounds what is read of one answer.
const maxResponseBody = 64 << 20

// target is where requests go: the host client and the pieces of the URL.
type target struct {
	hc     *fasthttp.HostClient
	host   []byte // Host header
	addr   string // host:port to dial
	tls    bool
	prefix string // the URL's path, without a trailing slash, before every request path
}

// newTarget returns the fasthttp client for u with room for conns
// connections. Requests are never retried: a benchmark counts what the
// target answered, not what a retry hid.
func newTarget(u *url.URL, conns int, timeout time.Duration) *target {
	isTLS := u.Scheme == "https"
	addr := u.Host
	if u.Port() == "" {
		if isTLS {
			addr = net.JoinHostPort(u.Hostname(), "443")
		} else {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	prefix := u.Path
	for len(prefix) > 0 && prefix[len(prefix)-1] == '/' {
		prefix = prefix[:len(prefix)-1]
	}
	hc := &fasthttp.HostClient{
		Addr:                      addr,
		IsTLS:                     isTLS,
		MaxConns:                  conns,
		MaxIdemponentCallAttempts: 1,
		ReadTimeout:               timeout,
		WriteTimeout:              timeout,
		MaxIdleConnDuration:       30 * time.Second,
		MaxResponseBodySize:       maxResponseBody,
		NoDefaultUserAgentHeader:  true,
		DisablePathNormalizing:    true,
	}
	if isTLS {
		hc.TLSConfig = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	}
	return &target{hc: hc, host: []byte(u.Host), addr: addr, tls: isTLS, prefix: prefix}
}

// prepare resets req for a request of method to path, with header names
// kept as given (Fiber's client sends them in lower case).
func (t *target) prepare(req *fasthttp.Request, method, path string) {
	req.Reset()
	req.Header.DisableNormalizing()
	req.Header.SetMethod(method)
	req.SetRequestURI(t.prefix + path)
	req.Header.SetHostBytes(t.host)
}

// dial opens a raw connection to the target, for requests fasthttp would
// refuse to write.
func (t *target) dial(timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	if t.tls {
		return tls.DialWithDialer(d, "tcp", t.addr, t.hc.TLSConfig)
	}
	return d.Dial("tcp", t.addr)
}

// transportClass names an error that left no HTTP answer, as a bounded set
// of labels for the report.
func transportClass(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, fasthttp.ErrDialTimeout):
		return "dial_timeout"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return "no_free_connections"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection_reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken_pipe"
	case errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection_closed"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return "response_too_large"
	}
	return "transport_error"
}

// maxCodeLen bounds an error code taken from an answer.
const maxCodeLen = 64

// errorCode returns the "error" field of a JSON error body, as fibergate
// writes it, or "" when there is none. A code that is not a short
// snake_case word is returned as "malformed_code", so a hostile answer
// cannot put arbitrary text in the report.
func errorCode(body []byte) string {
	if len(body) == 0 || len(body) > 64<<10 || body[0] != '{' {
		return ""
	}
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Error) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(e.Error, &s) != nil || !isCode(s) {
		return "malformed_code"
	}
	return s
}

// isCode reports whether s looks like an error code: 1 to maxCodeLen
// lower-case letters, digits and underscores.
func isCode(s string) bool {
	if len(s) == 0 || len(s) > maxCodeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
