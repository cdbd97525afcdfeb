//go:build unix

package peek

import "syscall"

const supported = true

func (s *Socket) recv(fd uintptr) bool {
	s.n, _, s.err = syscall.Recvfrom(int(fd), s.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return true
}

func (s *Socket) pending() bool {
	if err := s.raw.Read(s.fn); err != nil {
		return true
	}
	if s.err != nil {
		// EAGAIN: nothing waiting, the usual case. Anything else: the
		// connection is broken.
		return s.err != syscall.EAGAIN && s.err != syscall.EWOULDBLOCK && s.err != syscall.EINTR
	}
	return true // n > 0: unread bytes; n == 0: closed by the peer
}
