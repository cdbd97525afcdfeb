package egress

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/internal/fibertest"
)

// minerAnswers are answers a miner might give, well-formed or not.
var minerAnswers = []string{
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
	"HTTP/1.1 200 OK\r\nX-Fiber-Encrypted: fernet\r\nContent-Length: 7\r\n\r\nT:hello",
	"HTTP/1.1 200 OK\r\nX-Fiber-Encrypted: fernet\r\nX-Fiber-Content-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nT:a\nT:b\n\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX-Fiber-Encrypted: fernet\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nT:a\n\r\n",
	"HTTP/1.1 400 Bad Request\r\nContent-Length: 62\r\n\r\n{\"detail\":\"No symmetric key found for that hotkey and uuid\"}",
	"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n1a\r\n{\"requires_handshake\":true}\r\n0\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
	"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nx",
	"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: until close\n\n",
	"HTTP/1.0 302 Found\r\nLocation: http://127.0.0.1:1/\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX-Fibergate-Error: miner_timeout\r\nConnection: close, X-A\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
	"HTTP/1.1 999 Whatever\r\n\r\n",
	"garbage\r\n\r\n",
	"",
}

// sealTokens replaces each line "T:<text>" of the answer's body with the
// Fernet token of <text> under key, so the fuzzer reaches the decrypting
// paths with real tokens as well as broken ones.
func sealTokens(answer []byte, key *fernet.Key) []byte {
	head, body, ok := bytes.Cut(answer, []byte("\r\n\r\n"))
	if !ok || key == nil || !bytes.Contains(body, []byte("T:")) {
		return answer
	}
	var out bytes.Buffer
	out.Write(head)
	out.WriteString("\r\n\r\n")
	for i, line := range bytes.Split(body, []byte("\n")) {
		if i > 0 {
			out.WriteByte('\n')
		}
		if rest, ok := bytes.CutPrefix(line, []byte("T:")); ok {
			tok, err := key.Seal(nil, rest)
			if err == nil {
				line = tok
			}
		}
		out.Write(line)
	}
	return out.Bytes()
}

// rawFarEnd answers every request on its port with the current answer and
// closes the connection: the miner's answer to the key exchange itself.
type rawFarEnd struct {
	ln     net.Listener
	mu     sync.Mutex
	answer []byte
}

func startRawFarEnd(t testing.TB) *rawFarEnd {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &rawFarEnd{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *rawFarEnd) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	n := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if v, ok := strings.CutPrefix(strings.ToLower(line), "content-length:"); ok {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		if line == "\r\n" {
			break
		}
	}
	io.CopyN(io.Discard, br, int64(n))
	f.mu.Lock()
	a := f.answer
	f.mu.Unlock()
	c.Write(a)
}

// FuzzMinerAnswer: a miner answers arbitrary bytes, to an encrypted
// request (with real tokens where the answer says "T:"), a signed request,
// or the key exchange itself. Whatever they are, egress answers that one
// request (the miner's answer, or its own error with a known code and that
// code's status), panics nowhere, and serves the next request.
func FuzzMinerAnswer(f *testing.F) {
	for _, a := range minerAnswers {
		for mode := range byte(3) {
			f.Add(mode, []byte(a))
		}
	}
	var mu sync.Mutex
	var fuzzed []byte
	raw := startRawFarEnd(f)
	rawMiner := keypair(f, "raw miner")
	r := newRig(f, rigOptions{
		static: []StaticMiner{{Hotkey: ss58Of(rawMiner), Address: "http://" + raw.ln.Addr().String(), UID: -1}},
		egress: func(o *Options) {
			o.Timeouts = Timeouts{Handshake: time.Second, FirstByte: time.Second, Idle: time.Second, Total: 3 * time.Second}
			o.Backoff = Backoff{AfterFailures: 1 << 30}
			o.Limits.MaxResponse = 1 << 16
			o.Limits.MaxStreamLine = 1 << 10
			o.Routes = []Route{{Path: "/light/*", Mode: ModeSigned}}
		},
		miner: func(o *fibertest.Options) {
			o.Handler = func(w http.ResponseWriter, req *http.Request, plain []byte, key *fernet.Key) {
				if !strings.HasSuffix(req.URL.Path, "/fuzz") {
					w.Write(plain)
					return
				}
				c, _, err := w.(http.Hijacker).Hijack()
				if err != nil {
					return
				}
				defer c.Close()
				mu.Lock()
				a := sealTokens(fuzzed, key)
				mu.Unlock()
				c.Write(a)
			}
		},
	})
	f.Fuzz(func(t *testing.T, mode byte, a []byte) {
		r.t = t
		mu.Lock()
		fuzzed = a
		mu.Unlock()
		var got answer
		switch mode % 3 {
		case 0:
			got = r.post(r.minerPath("/fuzz"), `{"x":1}`)
		case 1:
			got = r.post(r.minerPath("/fuzz"), `{"x":1}`, HeaderMode, "signed")
		case 2:
			raw.mu.Lock()
			raw.answer = a
			raw.mu.Unlock()
			got = r.post("/miner/"+ss58Of(rawMiner)+"/fuzz", `{"x":1}`)
		}
		if code := got.header.Get(HeaderError); code != "" {
			info, ok := codeInfo[Code(code)]
			if !ok || info.status != got.status {
				t.Fatalf("egress's error %q with status %d", code, got.status)
			}
			if code == string(CodeInternal) {
				t.Fatalf("internal error for answer %q", a)
			}
		}
		if n := r.counter("fibergate_egress_handler_panics_total", nil); n != 0 {
			t.Fatalf("%v panics, answer %q", n, a)
		}
		if ok := r.post(r.minerPath("/ok"), `{"y":2}`); ok.status != 200 {
			t.Fatalf("after answer %q, a good request got %d %s", a, ok.status, ok.body)
		}
	})
}
