//go:build !unix

package proxy

import "syscall"

// peeker cannot peek on this platform; pooled connections are trusted.
type peeker struct{ fn func(fd uintptr) bool }

func (p *peeker) recv(uintptr) bool { return true }

func (p *peeker) pending(syscall.RawConn) bool { return false }
