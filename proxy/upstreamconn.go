package proxy

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"

	"github.com/valyala/fasthttp"
)

// errStaleConn marks a pooled upstream connection that must not carry
// another request: the app sent bytes nobody asked for (an answer to a
// request it read out of another's body, or more than its Content-Length
// said), or closed it. Nothing was sent on it, so the request is retried
// on another connection.
var errStaleConn = errors.New("proxy: pooled upstream connection has unread bytes or was closed")

// checkedConn is an upstream connection that, before it carries a request
// after an answer, checks that nothing is waiting to be read. Without this
// an app that answers twice would hand a later validator another request's
// answer.
type checkedConn struct {
	net.Conn
	raw  syscall.RawConn
	used atomic.Bool // an answer was read since the last request was written
	peek peeker      // made once, so a check allocates nothing
}

func newCheckedConn(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	cc := &checkedConn{Conn: c, raw: raw}
	cc.peek.fn = cc.peek.recv
	return cc
}

func (c *checkedConn) Read(p []byte) (int, error) {
	c.used.Store(true)
	return c.Conn.Read(p)
}

func (c *checkedConn) Write(p []byte) (int, error) {
	if c.used.Swap(false) && c.peek.pending(c.raw) {
		c.Conn.Close()
		return 0, errStaleConn
	}
	return c.Conn.Write(p)
}

// retryUpstream says which failed upstream requests are tried again, as
// Go's http.Transport and nginx do: a request whose pooled connection was
// found stale before anything was written, and a GET, HEAD or OPTIONS
// without a body whose connection closed before any byte of an answer
// (the app timed out an idle connection just as it was reused). A POST is
// never sent twice.
func retryUpstream(req *fasthttp.Request, _ int, err error) (resetTimeout, retry bool) {
	if errors.Is(err, errStaleConn) {
		return false, true
	}
	if err != io.EOF || len(req.Body()) > 0 {
		return false, false
	}
	m := req.Header.Method()
	return false, string(m) == fasthttp.MethodGet || string(m) == fasthttp.MethodHead || string(m) == fasthttp.MethodOptions
}
