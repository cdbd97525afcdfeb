//go:build unix

package proxy

import "syscall"

// peeker looks at a socket without taking anything from it. Its fn is
// its own recv method value, made once per connection: RawConn.Read takes
// a func, and a fresh closure per call would allocate.
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

// pending reports whether the socket has bytes to read, or was closed by
// the peer, without taking them and without waiting.
func (p *peeker) pending(raw syscall.RawConn) bool {
	if err := raw.Read(p.fn); err != nil {
		return true
	}
	if p.err != nil {
		// EAGAIN: nothing waiting, the usual case. Anything else: the
		// connection is broken.
		return p.err != syscall.EAGAIN && p.err != syscall.EWOULDBLOCK && p.err != syscall.EINTR
	}
	return true // n > 0: unread bytes; n == 0: closed by the app
}
