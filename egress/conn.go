package egress

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fibergate/fibergate/internal/peek"
)

// timedConn is a connection to a miner whose reads, once an answer's
// headers are in, are bounded per read (timeouts.idle, the wait for each
// further piece of the answer) and in all (timeouts.total). fasthttp sets
// one read deadline for a whole answer; this conn takes over after the
// headers, and hands back to fasthttp the next time it sets a deadline (for
// the next request on the connection).
//
// It also checks, before a pooled connection carries another request, that
// the miner has not closed it (a miner that restarted closes them all) and
// sent nothing unasked; such a connection is dropped with errStaleConn
// before anything is written, the pool's other idle connections with it,
// and the request goes on a fresh one.
type timedConn struct {
	net.Conn
	reg     *connRegistry
	key     connKey
	idle    atomic.Int64 // ns; 0: fasthttp's deadline rules
	end     atomic.Int64 // unix ns: the request's total deadline
	once    sync.Once
	sock    *peek.Socket // nil: no checks (TLS reads ahead)
	used    atomic.Bool  // read from since the last write
	onStale func()       // drops the pool's idle connections
}

// errStaleConn marks a pooled connection found closed (or holding stray
// bytes) before a request was written on it.
var errStaleConn = errors.New("egress: pooled connection to the miner was closed")

func (c *timedConn) Write(p []byte) (int, error) {
	if c.sock != nil && c.used.Swap(false) && c.sock.Pending() {
		c.Conn.Close()
		if c.onStale != nil {
			c.onStale()
		}
		return 0, errStaleConn
	}
	return c.Conn.Write(p)
}

func (c *timedConn) Read(p []byte) (int, error) {
	c.used.Store(true)
	if idle := c.idle.Load(); idle > 0 {
		d := time.Now().Add(time.Duration(idle))
		if end := time.Unix(0, c.end.Load()); end.Before(d) {
			d = end
		}
		c.Conn.SetReadDeadline(d)
	}
	return c.Conn.Read(p)
}

// SetReadDeadline is fasthttp's: a new request on the connection.
func (c *timedConn) SetReadDeadline(t time.Time) error {
	c.idle.Store(0)
	return c.Conn.SetReadDeadline(t)
}

func (c *timedConn) Close() error {
	c.once.Do(func() { c.reg.remove(c) })
	return c.Conn.Close()
}

// stream switches the connection to per-read deadlines: idle for each read,
// and never past end.
func (c *timedConn) stream(idle time.Duration, end time.Time) {
	c.end.Store(end.UnixNano())
	c.idle.Store(int64(idle))
}

// connKey names a TCP connection: its local and remote addresses.
type connKey struct{ local, remote netip.AddrPort }

// connRegistry finds the connection an answer arrived on by its addresses
// (fasthttp tells an answer's addresses, not its connection).
// It is sharded so streams to many miners do not contend on one lock.
type connRegistry struct {
	shards [16]struct {
		mu sync.Mutex
		m  map[connKey]*timedConn
		_  [40]byte
	}
}

func newConnRegistry() *connRegistry {
	r := &connRegistry{}
	for i := range r.shards {
		r.shards[i].m = make(map[connKey]*timedConn)
	}
	return r
}

func (r *connRegistry) shard(k connKey) int { return int(k.local.Port()) & (len(r.shards) - 1) }

// keyOf returns the key of a connection with local address l and remote
// address r.
func keyOf(l, r net.Addr) (connKey, bool) {
	la, ok1 := l.(*net.TCPAddr)
	ra, ok2 := r.(*net.TCPAddr)
	if !ok1 || !ok2 {
		return connKey{}, false
	}
	return connKey{la.AddrPort(), ra.AddrPort()}, true
}

// wrap registers c and returns it as a timedConn; check says whether
// pooled reuse is checked (not under TLS), and onStale is called when a
// stale connection is found.
func (r *connRegistry) wrap(c net.Conn, check bool, onStale func()) net.Conn {
	k, ok := keyOf(c.LocalAddr(), c.RemoteAddr())
	if !ok {
		return c
	}
	tc := &timedConn{Conn: c, reg: r, key: k, onStale: onStale}
	if check {
		tc.sock = peek.Of(c)
	}
	s := &r.shards[r.shard(tc.key)]
	s.mu.Lock()
	s.m[tc.key] = tc
	s.mu.Unlock()
	return tc
}

func (r *connRegistry) remove(c *timedConn) {
	s := &r.shards[r.shard(c.key)]
	s.mu.Lock()
	if s.m[c.key] == c {
		delete(s.m, c.key)
	}
	s.mu.Unlock()
}

// lookup returns the registered connection with local address l and
// remote address rem.
func (r *connRegistry) lookup(l, rem net.Addr) *timedConn {
	k, ok := keyOf(l, rem)
	if !ok {
		return nil
	}
	s := &r.shards[r.shard(k)]
	s.mu.Lock()
	c := s.m[k]
	s.mu.Unlock()
	return c
}
