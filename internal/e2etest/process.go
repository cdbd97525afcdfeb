package e2etest

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Bounds on every wait, generous for -race on a small busy machine; each
// is still a bound.
const (
	StartTimeout = 30 * time.Second      // a process from exec to serving
	ExitTimeout  = 30 * time.Second      // a process from a stop signal to its exit
	IOTimeout    = 30 * time.Second      // one exchange with a process, or one short command
	PollEvery    = 25 * time.Millisecond // how often a wait looks again
)

// logTail is how much of each output a failed test logs: the end, where
// the failure is.
const logTail = 64 << 10

// Output is what a process wrote to stdout or stderr so far. It is safe
// for one writer and concurrent readers.
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// Process is a started program. It is killed when its test ends, if still
// running, and its output is logged when the test failed.
type Process struct {
	Name           string
	Cmd            *exec.Cmd
	Stdout, Stderr Output
	done           chan struct{} // closed once the process has exited
}

// Start starts cmd for t under name (the name its log and failures use).
// cmd's Stdout and Stderr are set to the Process's.
func Start(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{Name: name, Cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.Stdout, &p.Stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.Exited() {
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s\nstdout:\n%s\nstderr:\n%s", name, tail(p.Stdout.String()), tail(p.Stderr.String()))
		}
	})
	return p
}

func tail(s string) string {
	if len(s) > logTail {
		return "..." + s[len(s)-logTail:]
	}
	return s
}

// Command returns the fibergate binary's command with args, run in dir
// with env (see Env).
func Command(dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(Bin(), args...)
	cmd.Dir = dir
	cmd.Env = env
	return cmd
}

// StartFibergate starts the fibergate binary with args in dir with env.
func StartFibergate(t testing.TB, dir string, env []string, args ...string) *Process {
	t.Helper()
	return Start(t, "fibergate "+strings.Join(args, " "), Command(dir, env, args...))
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling %s: %v", p.Name, err)
	}
}

// Stop sends sig and waits up to grace for the process to end, then kills
// it: a graceful stop for a cleanup, where failing the test is too late.
func (p *Process) Stop(sig os.Signal, grace time.Duration) {
	if p.Exited() {
		return
	}
	p.Cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Cmd.Process.Kill()
		<-p.done
	}
}

// WaitExit waits up to timeout for the process to end and returns its
// exit code.
func (p *Process) WaitExit(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.Cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("%s still running %v later", p.Name, timeout)
		return -1
	}
}

// WaitListening waits until addr accepts TCP connections.
func (p *Process) WaitListening(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(StartTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if p.Exited() {
			t.Fatalf("%s exited (%v) before listening on %s", p.Name, p.Cmd.ProcessState, addr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: nothing listening on %s within %v", p.Name, addr, StartTimeout)
		}
		time.Sleep(PollEvery)
	}
}

// WaitHTTP waits up to timeout until GET url answers 200.
func (p *Process) WaitHTTP(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		status, body := Get(url)
		if status == http.StatusOK {
			return
		}
		if p.Exited() {
			t.Fatalf("%s exited (%v) before %s answered 200", p.Name, p.Cmd.ProcessState, url)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s got %d %q, want 200 within %v", p.Name, url, status, body, timeout)
		}
		time.Sleep(PollEvery)
	}
}

// WaitStdout waits up to timeout for the process's stdout to contain s,
// and returns the stdout so far.
func (p *Process) WaitStdout(t testing.TB, s string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := p.Stdout.String()
		if strings.Contains(out, s) {
			return out
		}
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("%s: stdout never contained %q; got:\n%s", p.Name, s, out)
		}
		time.Sleep(PollEvery)
	}
}

// The log lines that give the addresses a fibergate listens on, so a
// config may ask for 127.0.0.1:0.
var (
	serveLine  = regexp.MustCompile(`msg="fibergate listening" addr=(\S+)`)
	egressLine = regexp.MustCompile(`msg="egress listening" addr=(\S+)`)
	adminLine  = regexp.MustCompile(`msg="admin listening" addr=(\S+)`)
)

// WaitReady waits for `fibergate serve` to log its addresses and for its
// /readyz to answer 200, and returns the proxy and admin addresses.
func (p *Process) WaitReady(t testing.TB) (addr, admin string) {
	t.Helper()
	return p.waitServing(t, serveLine, "/readyz")
}

// WaitUp is WaitReady for a serve that cannot be ready (its app is down,
// no validator has the stake): it waits for /healthz instead.
func (p *Process) WaitUp(t testing.TB) (addr, admin string) {
	t.Helper()
	return p.waitServing(t, serveLine, "/healthz")
}

// WaitEgress is WaitReady for `fibergate egress`.
func (p *Process) WaitEgress(t testing.TB) (addr, admin string) {
	t.Helper()
	return p.waitServing(t, egressLine, "/readyz")
}

func (p *Process) waitServing(t testing.TB, listen *regexp.Regexp, health string) (addr, admin string) {
	t.Helper()
	start := time.Now()
	for {
		log := p.Stderr.String()
		if m := listen.FindStringSubmatch(log); m != nil {
			if a := adminLine.FindStringSubmatch(log); a != nil {
				addr, admin = m[1], a[1]
				break
			}
		}
		if p.Exited() {
			t.Fatalf("%s exited with code %d before it listened", p.Name, p.Cmd.ProcessState.ExitCode())
		}
		if time.Since(start) > StartTimeout {
			t.Fatalf("%s: no %q and \"admin listening\" log lines within %v", p.Name, listen, StartTimeout)
		}
		time.Sleep(PollEvery)
	}
	p.WaitHTTP(t, "http://"+admin+health, StartTimeout-time.Since(start))
	return addr, admin
}
