//go:build unix

package egress

import "syscall"

// peeker looks at a socket without taking anything from it or waiting. Its
// fn is its own recv method value, made once per connection, so a look
// allocates nothing.
type peeker struct {
	fn  func(fd uintptr) bool
	buf [1]byte
	n   int
	err error
}

func (p *peeker) recv(fd uintptr) bool {
	p.n, _, p.err = syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return true
}

// pending reports whether the socket was closed by the peer or holds bytes
// nobody asked for.
func (p *peeker) pending(raw syscall.RawConn) bool {
	if err := raw.Read(p.fn); err != nil {
		return true
	}
	if p.err != nil {
		// EAGAIN: nothing waiting, the usual case; anything else: broken.
		return p.err != syscall.EAGAIN && p.err != syscall.EWOULDBLOCK && p.err != syscall.EINTR
	}
	return true // n > 0: stray bytes; n == 0: closed
}
