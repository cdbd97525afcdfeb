// Package redistest runs a real redis-server for tests: on a free loopback
// port, with persistence off, in a temporary directory, stopped when the
// test ends. Tests can stop, restart, pause and resume it to play an outage
// or a hung server. A test is skipped, saying so, when redis-server is not
// on PATH (CI installs Debian's redis-server package).
package redistest

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds the wait for a started server to answer PING. It is
// generous for busy machines running -race suites.
const startTimeout = 20 * time.Second

// Options configure a Server. The zero value is a plain server.
type Options struct {
	// Password, when set, is required of clients (requirepass).
	Password string
	// TLSCertFile and TLSKeyFile, when set, make the server speak only TLS
	// on its port with this certificate; clients are not asked for one.
	TLSCertFile, TLSKeyFile string
}

// Server is one redis-server process on 127.0.0.1. Its methods are safe for
// concurrent use.
type Server struct {
	// Addr is the server's host:port; it stays the same across Restart.
	Addr string

	t    testing.TB
	bin  string
	dir  string
	opts Options

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error // receives the running process's exit
}

// Start starts a redis-server for t and stops it when t ends. It skips t
// when redis-server is not installed.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not on PATH: install Debian's redis-server package (.ci/run does) to run this test")
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), opts: opts}
	t.Cleanup(s.Stop)
	// A free port can be taken between choosing and binding it: try again.
	var lastErr error
	for range 5 {
		s.Addr = freeAddr(t)
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("starting redis-server: %v", lastErr)
	return nil
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the server on s.Addr and waits until it answers PING.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, port, _ := net.SplitHostPort(s.Addr)
	args := []string{
		"--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--dir", s.dir, "--daemonize", "no", "--loglevel", "warning",
	}
	if s.opts.Password != "" {
		args = append(args, "--requirepass", s.opts.Password)
	}
	if s.opts.TLSCertFile != "" {
		args[1] = "0" // no plain port
		args = append(args, "--tls-port", port, "--tls-cert-file", s.opts.TLSCertFile,
			"--tls-key-file", s.opts.TLSKeyFile, "--tls-auth-clients", "no")
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	log, err := os.Create(s.dir + "/redis-" + port + ".log")
	if err != nil {
		return err
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(startTimeout)
	for {
		if err := s.ping(); err == nil {
			s.cmd, s.exited = cmd, exited
			return nil
		}
		select {
		case err := <-exited:
			out, _ := os.ReadFile(log.Name())
			return fmt.Errorf("redis-server on %s exited (%v): %s", s.Addr, err, strings.TrimSpace(string(out)))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on %s did not answer PING within %v", s.Addr, startTimeout)
		}
	}
}

// ping sends PING (after AUTH when a password is set) over a fresh
// connection and checks the answer.
func (s *Server) ping() error {
	conn, err := s.dial(context.Background())
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	r := bufio.NewReader(conn)
	if s.opts.Password != "" {
		fmt.Fprintf(conn, "AUTH %s\r\n", s.opts.Password)
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
			return fmt.Errorf("AUTH: %q %v", line, err)
		}
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// Stop ends the server, if running, and waits until its port is closed.
// Its data is gone: persistence is off.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	p := s.cmd.Process
	p.Signal(syscall.SIGCONT) // a paused server cannot exit
	p.Kill()
	<-s.exited
	s.cmd, s.exited = nil, nil
}

// Restart starts the server again on the same address after Stop.
func (s *Server) Restart() {
	s.t.Helper()
	var err error
	// The old process's port may linger briefly; retry for a while.
	for range 50 {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("restarting redis-server on %s: %v", s.Addr, err)
}

// Pause stops the server process without closing its connections (SIGSTOP):
// clients see a server that accepts and never answers.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume undoes Pause.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.cmd.Process.Signal(sig)
	}
}

// Do sends one command over a fresh connection and returns the raw RESP2
// reply, for tests that read what the server holds independently of any
// client library. Arguments are sent as bulk strings.
func (s *Server) Do(ctx context.Context, args ...string) (string, error) {
	conn, err := s.dial(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	w := bufio.NewWriter(conn)
	if s.opts.Password != "" {
		writeCommand(w, "AUTH", s.opts.Password)
	}
	writeCommand(w, args...)
	if err := w.Flush(); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	if s.opts.Password != "" {
		if _, err := readReply(r); err != nil {
			return "", err
		}
	}
	return readReply(r)
}

// dial connects to the server, over TLS when it speaks TLS (the test's
// own certificate is not verified: this is the test talking to itself).
func (s *Server) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: time.Second}
	if s.opts.TLSCertFile != "" {
		td := &tls.Dialer{NetDialer: d, Config: &tls.Config{InsecureSkipVerify: true}}
		return td.DialContext(ctx, "tcp", s.Addr)
	}
	return d.DialContext(ctx, "tcp", s.Addr)
}

func writeCommand(w *bufio.Writer, args ...string) {
	fmt.Fprintf(w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(w, "$%d\r\n%s\r\n", len(a), a)
	}
}

// readReply reads one RESP2 reply and renders it as text: bulk strings as
// they are, arrays as their elements one per line, nil as "(nil)".
func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty reply line")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("redis error: %s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		if n < 0 {
			return "(nil)", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		parts := make([]string, 0, max(n, 0))
		for range n {
			p, err := readReply(r)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "\n"), nil
	}
	return "", fmt.Errorf("unknown reply %q", line)
}
