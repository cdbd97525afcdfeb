package proxy_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/proxy"
)

// fuzzAnswer is the raw answer the scripted app gives to /*/fuzz.
var fuzzAnswer struct {
	mu sync.Mutex
	b  []byte
}

// FuzzUpstreamAnswer: the app answers arbitrary bytes (then closes), to a
// plain GET, a HEAD, or an encrypted request whose answer fibergate
// encrypts. Whatever they are, fibergate answers that one request somehow,
// recovers no panic, and serves the next valid request.
func FuzzUpstreamAnswer(f *testing.F) {
	for _, a := range appAnswers {
		f.Add(byte(0), []byte(a))
		f.Add(byte(2), []byte(a))
	}
	f.Add(byte(1), []byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"))
	f.Add(byte(0), []byte("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nx"))
	f.Add(byte(0), []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nx"))
	f.Add(byte(2), []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n\n\n\n\r\n0\r\n\r\n"))
	f.Add(byte(0), []byte("HTTP/1.0 200 OK\r\n\r\nbody until close"))
	f.Add(byte(0), []byte("garbage"))

	app := startScriptedApp(f, func(w *bufio.Writer, c net.Conn, r *scriptedRequest) bool {
		if strings.HasSuffix(r.Target, "/fuzz") {
			fuzzAnswer.mu.Lock()
			w.Write(fuzzAnswer.b)
			fuzzAnswer.mu.Unlock()
			return false
		}
		io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	g := startGate(f, gateOptions{
		upstream:      app.URL,
		timeout:       time.Second,
		maxResponse:   1 << 16,
		maxStreamLine: 1 << 10,
		routes: []proxy.Route{
			{Path: "/pub/*", Mode: proxy.ModePublic},
			{Path: "/enc/*", Mode: proxy.ModeEncrypted, Response: proxy.ResponseEncrypted},
		},
	})
	kp := aliceKeypair(f)
	hc := &http.Client{Timeout: 5 * time.Second}
	c, err := client.New(client.Options{BaseURL: g.URL, Keypair: kp, MinerHotkey: g.Miner, Now: g.Clock.Now, HTTP: hc})
	if err != nil {
		f.Fatal(err)
	}
	if err := c.Handshake(context.Background()); err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, mode byte, answer []byte) {
		fuzzAnswer.mu.Lock()
		fuzzAnswer.b = answer
		fuzzAnswer.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		switch mode % 3 {
		case 0, 1:
			method := http.MethodGet
			if mode%3 == 1 {
				method = http.MethodHead
			}
			req, _ := http.NewRequestWithContext(ctx, method, g.URL+"/pub/fuzz", nil)
			if resp, err := hc.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 500 && resp.StatusCode != 502 && resp.StatusCode != 504 && !appStatus(answer, resp.StatusCode) {
					t.Fatalf("answer %q: fibergate said %d", answer, resp.StatusCode)
				}
			}
		default:
			c.Stream(ctx, "/enc/fuzz", []byte(`{}`), func([]byte) error { return nil })
		}
		if ctx.Err() != nil {
			t.Fatalf("answer %q: the request hung", answer)
		}
		resp, err := hc.Get(g.URL + "/pub/ok")
		if err != nil {
			t.Fatalf("after answer %q: %v", answer, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("after answer %q: %d %q", answer, resp.StatusCode, body)
		}
		if p := series(t, g.Reg, "fibergate_panics_total")[""]; p != 0 {
			t.Fatalf("after answer %q: %v panics recovered", answer, p)
		}
	})
}

// appStatus reports whether the app's own status line carried status (a
// 5xx the app chose is relayed as it is).
func appStatus(answer []byte, status int) bool {
	line, _, _ := strings.Cut(string(answer), "\n")
	return strings.Contains(line, " "+strconv.Itoa(status))
}
