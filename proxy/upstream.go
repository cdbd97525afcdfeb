package proxy

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fibergate/fibergate/internal/peek"
	"github.com/valyala/fasthttp"
)

// Defaults for the upstream pool.
const (
	// DefaultUpstreamIdle is how long a pooled connection may sit idle
	// before it is closed instead of used. It is below the keep-alive
	// timeouts of common app servers (gunicorn 2 s, uvicorn and Node 5 s),
	// so fibergate stops using a connection before the app closes it.
	DefaultUpstreamIdle = time.Second
	// upstreamDialTimeout bounds connecting to the app.
	upstreamDialTimeout = 3 * time.Second
	// upstreamBufSize holds a typical request or answer in one read or write.
	upstreamBufSize = 16 << 10
	// maxInterim bounds the 1xx answers read before a final one.
	maxInterim = 16
	// earlyCheckEvery is how much of a large request is written between
	// looks for an answer that came early.
	earlyCheckEvery = 64 << 10
)

var (
	errNoFreeConns    = errors.New("proxy: every upstream connection is busy (upstream.max_conns)")
	errTooManyInterim = errors.New("proxy: the app sent too many 1xx answers")
	errUpstreamClosed = errors.New("proxy: the upstream client is closed")
)

// upstreamOptions configure the client to the app.
type upstreamOptions struct {
	Addr        string      // host:port to dial
	TLS         *tls.Config // nil: plain TCP
	MaxConns    int         // open connections, idle and busy
	IdleTimeout time.Duration
}

// upstream is fibergate's HTTP/1.1 client to the app. It pools idle
// connections and owns each one from the moment a request takes it until
// it is pooled again or closed, so every rule about reuse is decided in one
// place (exchange.finish). A connection is pooled again only when nothing
// about the exchange that used it leaves a doubt: see reusable.
//
// A connection that has carried a request body is only used again for the
// same validator. An app server that lets a handler answer without reading
// the body (Python's http.server does) reads the leftover bytes as the
// start of the next request on that connection, and may quote them in its
// error answer; nobody outside the app can see that happen, so the next
// request there is always the same validator's, never another's.
//
// It is safe for concurrent use; the pool's lock is held only to push or
// pop a connection.
type upstream struct {
	o      upstreamOptions
	mu     sync.Mutex
	shared idleStack              // connections that never carried a body
	owned  map[[32]byte]idleStack // connections that carried a validator's body
	idleN  int                    // idle connections in all
	open   int                    // connections counted against MaxConns
	closed bool
	// cleaning is set while a goroutine closes idle connections that
	// outlived IdleTimeout; it runs while any connection is idle.
	cleaning bool
	lastOK   atomic.Int64 // unix ns of the last answer from the app
}

func newUpstream(o upstreamOptions) *upstream {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultUpstreamIdle
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultUpstreamConns
	}
	return &upstream{o: o, owned: make(map[[32]byte]idleStack)}
}

// idleStack holds idle connections, most recently pooled last.
type idleStack []*upConn

func (s *idleStack) push(c *upConn) { *s = append(*s, c) }

func (s *idleStack) pop() *upConn {
	n := len(*s)
	if n == 0 {
		return nil
	}
	c := (*s)[n-1]
	(*s)[n-1] = nil
	*s = (*s)[:n-1]
	return c
}

// expire moves the connections idle since before cutoff (the oldest,
// first in the stack) to dst.
func (s *idleStack) expire(cutoff time.Time, dst []*upConn) []*upConn {
	i := 0
	for i < len(*s) && (*s)[i].idleAt.Before(cutoff) {
		i++
	}
	dst = append(dst, (*s)[:i]...)
	n := copy(*s, (*s)[i:])
	clear((*s)[n:])
	*s = (*s)[:n]
	return dst
}

// upConn is one connection to the app, with what the current exchange has
// done on it.
type upConn struct {
	c      net.Conn
	sock   *peek.Socket // nil when the socket cannot be looked at (TLS)
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time // when it was last pooled
	used   bool      // it has carried a whole exchange before
	// owner is the validator whose request body the connection carried;
	// it is used again only for that validator.
	owner    [32]byte
	hasOwner bool

	// The current exchange.
	writes  int   // Write calls so far
	written int64 // bytes the kernel took
	read    int64 // bytes of the answer read
	early   bool  // answer bytes were waiting before the request was all written
}

func (c *upConn) Write(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		// A request that takes more than one write may be answered before
		// it is all sent: an app that answers without reading the body,
		// which it would then read as the next request. Such a connection
		// must not carry one, so large writes go in pieces, each after a
		// look for an early answer.
		if c.writes > 0 && !c.early && c.sock.Pending() {
			c.early = true
		}
		c.writes++
		piece := p[:min(len(p), earlyCheckEvery)]
		n, err := c.c.Write(piece)
		c.written += int64(n)
		total += n
		if err != nil {
			return total, err
		}
		p = p[n:]
	}
	return total, nil
}

func (c *upConn) Read(p []byte) (int, error) {
	n, err := c.c.Read(p)
	c.read += int64(n)
	return n, err
}

// stale reports whether a pooled connection has bytes nobody asked for
// waiting on it (a second answer, or more than a Content-Length said) or
// was closed by the app. Such a connection must never carry a request.
func (c *upConn) stale() bool { return c.sock.Pending() }

var (
	upReaderPool sync.Pool
	upWriterPool sync.Pool
)

func (c *upConn) attachBuffers() {
	if v, ok := upReaderPool.Get().(*bufio.Reader); ok {
		v.Reset(c)
		c.br = v
	} else {
		c.br = bufio.NewReaderSize(c, upstreamBufSize)
	}
	if v, ok := upWriterPool.Get().(*bufio.Writer); ok {
		v.Reset(c)
		c.bw = v
	} else {
		c.bw = bufio.NewWriterSize(c, upstreamBufSize)
	}
}

func (c *upConn) detachBuffers() {
	if c.br != nil {
		c.br.Reset(nil)
		upReaderPool.Put(c.br)
		c.br = nil
	}
	if c.bw != nil {
		c.bw.Reset(nil)
		upWriterPool.Put(c.bw)
		c.bw = nil
	}
}

// take returns a connection for one exchange of the validator caller
// (nil for a public request): the most recently pooled one that caller
// may use and that is neither expired nor stale (those found are closed
// on the way, as many as there are), or a new one.
func (u *upstream) take(caller *[32]byte, now, deadline time.Time) (*upConn, error) {
	for {
		u.mu.Lock()
		if u.closed {
			u.mu.Unlock()
			return nil, errUpstreamClosed
		}
		var c *upConn
		if caller != nil {
			// An emptied stack stays, its array ready for the next push;
			// the cleaner deletes it.
			if st, ok := u.owned[*caller]; ok {
				c = st.pop()
				u.owned[*caller] = st
			}
		}
		if c == nil {
			c = u.shared.pop()
		}
		var evict *upConn
		if c == nil {
			if u.open >= u.o.MaxConns {
				// Every place is taken; one idle elsewhere makes room.
				evict = u.oldestIdle()
				if evict == nil {
					u.mu.Unlock()
					return nil, errNoFreeConns
				}
				u.open--
			}
			u.open++
		} else {
			u.idleN--
		}
		u.mu.Unlock()
		if evict != nil {
			evict.detachBuffers()
			evict.c.Close()
		}
		if c == nil {
			c, err := u.dial()
			if err == nil {
				err = c.c.SetDeadline(deadline)
			}
			if err != nil {
				if c != nil {
					c.c.Close()
				}
				u.release()
				return nil, err
			}
			return c, nil
		}
		// The deadline first: a peek past an earlier exchange's deadline
		// would fail and call a good connection stale.
		if now.Sub(c.idleAt) >= u.o.IdleTimeout || c.c.SetDeadline(deadline) != nil || c.stale() {
			u.discard(c)
			continue
		}
		c.writes, c.written, c.read, c.early = 0, 0, 0, false
		c.attachBuffers()
		return c, nil
	}
}

// oldestIdle removes and returns the idle connection pooled longest ago,
// or nil. u.mu must be held.
func (u *upstream) oldestIdle() *upConn {
	var from *idleStack
	var key [32]byte
	var owned bool
	if len(u.shared) > 0 {
		from = &u.shared
	}
	for k, st := range u.owned {
		if len(st) > 0 && (from == nil || st[0].idleAt.Before((*from)[0].idleAt)) {
			st := st
			from, key, owned = &st, k, true
		}
	}
	if from == nil {
		return nil
	}
	c := (*from)[0]
	rest := (*from)[1:]
	if owned {
		if len(rest) == 0 {
			delete(u.owned, key)
		} else {
			u.owned[key] = rest
		}
	} else {
		u.shared = rest
	}
	u.idleN--
	return c
}

func (u *upstream) dial() (*upConn, error) {
	nc, err := net.DialTimeout("tcp", u.o.Addr, upstreamDialTimeout)
	if err != nil {
		return nil, err
	}
	c := &upConn{c: nc}
	if u.o.TLS != nil {
		// TLS reads records ahead (session tickets): a peek would see them
		// as stray bytes, so a TLS connection is not looked at.
		c.c = tls.Client(nc, u.o.TLS)
	} else {
		c.sock = peek.Of(nc)
	}
	c.attachBuffers()
	return c, nil
}

// pool puts a connection whose exchange left no doubt back in the pool.
func (u *upstream) pool(c *upConn, now time.Time) {
	c.detachBuffers()
	c.used = true
	c.idleAt = now
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		u.discard(c)
		return
	}
	if c.hasOwner {
		st := u.owned[c.owner]
		st.push(c)
		u.owned[c.owner] = st
	} else {
		u.shared.push(c)
	}
	u.idleN++
	startCleaner := !u.cleaning
	u.cleaning = true
	u.mu.Unlock()
	if startCleaner {
		go u.clean()
	}
}

// discard closes a connection and frees its place.
func (u *upstream) discard(c *upConn) {
	c.detachBuffers()
	c.c.Close()
	u.release()
}

func (u *upstream) release() {
	u.mu.Lock()
	u.open--
	u.mu.Unlock()
}

// clean closes idle connections as they outlive IdleTimeout, so the app
// is not left holding connections fibergate will never use. It returns
// when no connection is idle.
func (u *upstream) clean() {
	tick := u.o.IdleTimeout / 2
	if tick < 10*time.Millisecond {
		tick = 10 * time.Millisecond
	}
	var expired []*upConn
	for {
		time.Sleep(tick)
		cutoff := time.Now().Add(-u.o.IdleTimeout)
		u.mu.Lock()
		expired = u.shared.expire(cutoff, expired[:0])
		for k, st := range u.owned {
			expired = st.expire(cutoff, expired)
			if len(st) == 0 {
				delete(u.owned, k)
			} else {
				u.owned[k] = st
			}
		}
		u.idleN -= len(expired)
		done := u.idleN == 0
		if done {
			u.cleaning = false
		}
		u.mu.Unlock()
		for _, c := range expired {
			u.discard(c)
		}
		clear(expired)
		if done {
			return
		}
	}
}

// Close closes the idle connections and makes every later exchange fail.
// Connections in use are closed as their exchanges end.
func (u *upstream) Close() {
	u.mu.Lock()
	u.closed = true
	idle := append([]*upConn(nil), u.shared...)
	for _, st := range u.owned {
		idle = append(idle, st...)
	}
	u.shared, u.owned, u.idleN = nil, map[[32]byte]idleStack{}, 0
	u.mu.Unlock()
	for _, c := range idle {
		u.discard(c)
	}
}

// exchange is one request's round trip to the app. It owns the connection
// and the answer from send until finish, which releases both.
type exchange struct {
	u    *upstream
	c    *upConn
	resp *fasthttp.Response
	// closeConn is set when the request asked for its connection to close
	// (Connection: close), so the connection carries nothing after it.
	closeConn bool
}

// send writes req and reads the head of the app's answer into resp,
// skipping interim 1xx answers. deadline bounds the whole exchange,
// answer body included.
//
// caller is the verified validator, nil for a public request; a request
// with a body makes the connection that validator's.
//
// A request found to have a closed connection before any byte of it was
// sent goes on another connection; that is not a resend. resend allows
// one resend of a request the app may see twice (a bodiless GET, HEAD or
// OPTIONS), only when a reused connection closed before any byte of an
// answer, as Go's http.Transport does. A fresh connection that closes is
// an error.
func (u *upstream) send(req *fasthttp.Request, resp *fasthttp.Response, caller *[32]byte, deadline time.Time, resend bool) (exchange, error) {
	head := req.Header.IsHead()
	resent := false
	for tries := 0; ; tries++ {
		c, err := u.take(caller, time.Now(), deadline)
		if err != nil {
			return exchange{}, err
		}
		if caller != nil && len(req.Body()) > 0 {
			c.owner, c.hasOwner = *caller, true
		}
		err = c.exchange(req, resp, head)
		if err == nil {
			u.lastOK.Store(time.Now().UnixNano())
			return exchange{u: u, c: c, resp: resp, closeConn: req.Header.ConnectionClose()}, nil
		}
		reused, unsent, unanswered := c.used, c.written == 0, c.read == 0
		u.discard(c)
		switch {
		case isTimeout(err):
			return exchange{}, fasthttp.ErrTimeout
		case reused && unsent && tries <= u.o.MaxConns:
			continue // it never reached the app
		case reused && unanswered && resend && !resent:
			resent = true
			continue
		}
		return exchange{}, err
	}
}

// exchange writes the request and reads the answer's head, within the
// deadline take set.
func (c *upConn) exchange(req *fasthttp.Request, resp *fasthttp.Response, head bool) error {
	if err := req.Write(c.bw); err != nil {
		return err
	}
	if err := c.bw.Flush(); err != nil {
		return err
	}
	resp.SkipBody = head
	resp.Header.SetNoDefaultContentType(true)
	for i := 0; ; i++ {
		if err := resp.Header.Read(c.br); err != nil {
			if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if st := resp.StatusCode(); st >= 200 || st == fasthttp.StatusSwitchingProtocols {
			return nil
		}
		if i >= maxInterim {
			return errTooManyInterim
		}
	}
}

// readFixed reads a fixed-length answer body of n bytes, n no more than
// the caller's limit, into the response.
func (x *exchange) readFixed(max int) error {
	x.resp.StreamBody = false
	return x.resp.ReadBody(x.c.br, max)
}

// openStream makes the answer's body readable as it arrives, through
// x.resp.BodyStream(), until finish.
func (x *exchange) openStream() {
	x.resp.StreamBody = true
	x.resp.ReadBody(x.c.br, 0) // only sets up the stream
}

// reusable reports whether the connection may carry another request
// after this exchange: it is an allow-list, so anything not listed here
// closes it. The request did not ask to close (fibergate asks for every
// request whose body an app could misread as another request); the
// answer is HTTP/1.1 without Connection: close, had a body framed by
// Content-Length or chunking that was read exactly to its end (ended),
// with no byte after it; and no byte of it came before the request was
// all written. A bodiless answer (204, 304, HEAD) is not reused: an app
// that sends a body anyway would have it read as the next answer.
func (x *exchange) reusable(ended bool) bool {
	h := &x.resp.Header
	return ended && !x.closeConn && !x.c.early &&
		h.IsHTTP11() && !h.ConnectionClose() &&
		h.ContentLength() != -2 &&
		x.c.br.Buffered() == 0
}

// finish releases the answer and pools or closes the connection. ended
// says whether the answer's body was read exactly to its end. A finished
// exchange is zero, and finishing it again does nothing.
func (x *exchange) finish(ended bool) {
	if x.c == nil {
		return
	}
	keep := x.reusable(ended)
	fasthttp.ReleaseResponse(x.resp)
	if keep {
		x.u.pool(x.c, time.Now())
	} else {
		x.u.discard(x.c)
	}
	*x = exchange{}
}
