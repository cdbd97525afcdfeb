package proxy

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// Bounds of the wait between failed accepts, as net/http's Server uses
// for temporary accept errors.
const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = time.Second
)

// ListenerOptions configures NewListener.
type ListenerOptions struct {
	// OnError, if set, is told of every failed accept that will be tried
	// again: the error, whether it is for want of file descriptors, and
	// the wait before the next try. It must not block.
	OnError func(err error, fdLimit bool, wait time.Duration)
}

// NewListener wraps ln so that a failed accept that can succeed later
// (the process or the system out of file descriptors, a connection reset
// before it was accepted, no buffer space) is never returned: Accept
// waits, 5 ms doubling up to 1 s as net/http's Server does, and tries
// again. fasthttp's Serve takes any accept error other than a timeout for
// the end of the listener and returns; with this, a full descriptor table
// only delays new connections while the ones held keep being served. Any
// other error, and the error after Close, are returned as they are.
func NewListener(ln net.Listener, o ListenerOptions) net.Listener {
	return &listener{Listener: ln, opts: o, closed: make(chan struct{})}
}

type listener struct {
	net.Listener
	opts   ListenerOptions
	once   sync.Once
	closed chan struct{}
}

func (l *listener) Accept() (net.Conn, error) {
	var wait time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			return c, nil
		}
		retry, fdLimit := acceptRetryable(err)
		if !retry {
			return nil, err
		}
		wait = min(max(2*wait, minAcceptBackoff), maxAcceptBackoff)
		if l.opts.OnError != nil {
			l.opts.OnError(err, fdLimit, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-l.closed:
			t.Stop()
			return nil, net.ErrClosed
		case <-t.C:
		}
	}
}

func (l *listener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// acceptRetryable reports whether a failed accept may succeed if tried
// again, and whether it failed for want of file descriptors.
func acceptRetryable(err error) (retry, fdLimit bool) {
	switch {
	case errors.Is(err, net.ErrClosed):
		return false, false
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return true, true
	case errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ENOBUFS), errors.Is(err, syscall.ENOMEM),
		errors.Is(err, syscall.EINTR), errors.Is(err, syscall.EAGAIN),
		errors.Is(err, syscall.EPROTO), errors.Is(err, syscall.EPERM):
		return true, false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true, false
	}
	return false, false
}
