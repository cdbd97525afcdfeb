//go:build !unix

package proxy

import "syscall"

// pending cannot peek on this platform; pooled connections are trusted.
func pending(syscall.RawConn) bool { return false }
