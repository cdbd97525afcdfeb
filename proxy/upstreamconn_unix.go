//go:build unix

package proxy

import "syscall"

// pending reports whether the socket has bytes to read, or was closed by
// the peer, without taking them and without waiting.
func pending(raw syscall.RawConn) bool {
	var buf [1]byte
	var rerr error
	err := raw.Read(func(fd uintptr) bool {
		_, _, rerr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	})
	if err != nil {
		return true
	}
	if rerr != nil {
		// EAGAIN: nothing waiting, the usual case. Anything else: the
		// connection is broken.
		return rerr != syscall.EAGAIN && rerr != syscall.EWOULDBLOCK && rerr != syscall.EINTR
	}
	return true // n > 0: unread bytes; n == 0: closed by the app
}
