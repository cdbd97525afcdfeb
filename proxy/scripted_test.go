package proxy_test

import (
	"bufio"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scriptedRequest is one request as a scripted app read it off the wire.
type scriptedRequest struct {
	Method, Target string
	Header         textproto.MIMEHeader
	RawHeader      []string // "Name: value" lines as sent
	Body           []byte
}

// scriptedApp is an upstream that answers raw bytes chosen per request, so
// a test can send what no well-behaved server library would: bodiless
// answers with lengths, cut streams, absurd lengths, stray bytes.
type scriptedApp struct {
	URL    string
	ln     net.Listener
	mu     sync.Mutex
	got    []scriptedRequest
	answer func(w *bufio.Writer, c net.Conn, r *scriptedRequest) (keepOpen bool)
	wg     sync.WaitGroup
	conns  atomic.Int64 // connections accepted
	// ignoreBody says which request bodies are left unread, as Python's
	// http.server does when a handler ignores them: they are read as the
	// start of the next request.
	ignoreBody func(r *scriptedRequest) bool
	// answerBeforeBody answers once the head is read, then reads the body
	// slowly, as an app that does not wait for it.
	answerBeforeBody bool
}

// connections returns how many connections the app has accepted.
func (a *scriptedApp) connections() int64 { return a.conns.Load() }

func startScriptedApp(t testing.TB, answer func(w *bufio.Writer, c net.Conn, r *scriptedRequest) bool) *scriptedApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &scriptedApp{URL: "http://" + ln.Addr().String(), ln: ln, answer: answer}
	a.wg.Add(1)
	go a.accept()
	t.Cleanup(func() {
		ln.Close()
		a.wg.Wait()
	})
	return a
}

func (a *scriptedApp) accept() {
	defer a.wg.Done()
	var conns sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	for {
		c, err := a.ln.Accept()
		if err != nil {
			mu.Lock()
			for c := range open {
				c.Close()
			}
			mu.Unlock()
			conns.Wait()
			return
		}
		a.conns.Add(1)
		mu.Lock()
		open[c] = true
		mu.Unlock()
		conns.Add(1)
		go func() {
			defer conns.Done()
			a.serve(c)
			c.Close()
			mu.Lock()
			delete(open, c)
			mu.Unlock()
		}()
	}
}

func (a *scriptedApp) serve(c net.Conn) {
	br := bufio.NewReader(c)
	bw := bufio.NewWriter(c)
	for {
		r, err := readScriptedHead(br)
		if err != nil {
			return
		}
		if a.answerBeforeBody {
			n := bodyLength(r)
			keep := a.answer(bw, c, r)
			if bw.Flush() != nil || !keep {
				return
			}
			time.Sleep(100 * time.Millisecond)
			if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
				return
			}
			a.mu.Lock()
			a.got = append(a.got, *r)
			a.mu.Unlock()
			continue
		}
		if a.ignoreBody == nil || !a.ignoreBody(r) {
			if err := readScriptedBody(br, r); err != nil {
				return
			}
		}
		a.mu.Lock()
		a.got = append(a.got, *r)
		a.mu.Unlock()
		keep := a.answer(bw, c, r)
		if bw.Flush() != nil || !keep {
			return
		}
	}
}

// bodyLength is the request's Content-Length, 0 when absent or bad.
func bodyLength(r *scriptedRequest) int {
	n, err := strconv.Atoi(r.Header.Get("Content-Length"))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func readScriptedBody(br *bufio.Reader, r *scriptedRequest) error {
	if n := bodyLength(r); n > 0 {
		r.Body = make([]byte, n)
		if _, err := io.ReadFull(br, r.Body); err != nil {
			return err
		}
	}
	return nil
}

func readScriptedHead(br *bufio.Reader) (*scriptedRequest, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	parts := strings.SplitN(strings.TrimRight(line, "\r\n"), " ", 3)
	if len(parts) != 3 {
		return nil, io.ErrUnexpectedEOF
	}
	r := &scriptedRequest{Method: parts[0], Target: parts[1], Header: textproto.MIMEHeader{}}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			break
		}
		r.RawHeader = append(r.RawHeader, l)
		if k, v, ok := strings.Cut(l, ":"); ok {
			r.Header.Add(k, strings.TrimSpace(v))
		}
	}
	return r, nil
}

func (a *scriptedApp) requests() []scriptedRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]scriptedRequest(nil), a.got...)
}

// rawExchange sends raw request bytes to addr and returns everything the
// server wrote until it closed the connection or went quiet for idle.
func rawExchange(t testing.TB, addr, request string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	return readUntilQuiet(c)
}

// readUntilQuiet reads until the peer closes or sends nothing for a second.
func readUntilQuiet(c net.Conn) string {
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}
