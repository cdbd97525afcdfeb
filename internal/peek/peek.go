// Package peek looks at a connection's socket without reading from it or
// waiting: whether the peer has sent bytes nobody asked for, or closed it.
// Both halves of fibergate check a pooled connection with it before it
// carries another request.
package peek

import (
	"net"
	"syscall"
)

// Socket is a connection's socket, ready to be looked at. Its look reuses
// one method value made once, so a look allocates nothing.
type Socket struct {
	raw syscall.RawConn
	fn  func(fd uintptr) bool
	buf [1]byte
	n   int
	err error
}

// Of returns c's socket, or nil when c has none that can be looked at (a
// TLS connection reads records ahead, so its bytes would look stray).
func Of(c net.Conn) *Socket {
	sc, ok := c.(syscall.Conn)
	if !ok || !supported {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	s := &Socket{raw: raw}
	s.fn = s.recv
	return s
}

// Pending reports whether the socket holds bytes to read or was closed by
// the peer, without taking them and without waiting. A nil Socket has
// nothing pending.
func (s *Socket) Pending() bool {
	if s == nil {
		return false
	}
	return s.pending()
}
