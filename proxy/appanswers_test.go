package proxy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/proxy"
)

// appAnswers is what the scripted app answers, by request path. Each case
// is something a real app does: Python's http.server answers 304, FastAPI
// 204, a crashed worker cuts its stream.
var appAnswers = map[string]string{
	"/pub/no-content":      "HTTP/1.1 204 No Content\r\nX-App: yes\r\n\r\n",
	"/pub/not-modified":    "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 42\r\n\r\n",
	"/pub/head-length":     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1234\r\n\r\n",
	"/pub/head-nolength":   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n",
	"/pub/huge-length":     "HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\n\r\nabc",
	"/pub/short-body":      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
	"/pub/no-content-type": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
	"/pub/connection-named": "HTTP/1.1 200 OK\r\nConnection: X-Secret, keep-alive\r\nX-Secret: 1\r\nX-Kept: 1\r\n" +
		"Keep-Alive: timeout=5\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
	"/pub/early-hints": "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nfinal",
	"/pub/switching":  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	"/pub/chunked":    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab\n\r\n3\r\ncd\n\r\n0\r\n\r\n",
	"/pub/truncated":  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nline1\n\r\n3\r\nlin",
	"/enc/lines":      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n11\r\ndata: a\n\ndata: b\n\r\n0\r\n\r\n",
	"/enc/truncated":  "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n11\r\ndata: a\n\ndata: b\n\r\n5\r\npart",
	"/pub/ok":         "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
	"/pub/close-body": "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close\n",
}

// closeAfter are the answers after which the scripted app closes.
var closeAfter = map[string]bool{
	"/pub/huge-length": true, "/pub/short-body": true, "/pub/truncated": true,
	"/enc/truncated": true, "/pub/close-body": true, "/pub/switching": true,
}

func scriptedAnswers(w *bufio.Writer, c net.Conn, r *scriptedRequest) bool {
	path, _, _ := strings.Cut(r.Target, "?")
	a, ok := appAnswers[path]
	if !ok {
		a = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\necho"
	}
	if r.Method == http.MethodHead {
		// The head of the answer only.
		a = a[:strings.Index(a, "\r\n\r\n")+4]
	}
	io.WriteString(w, a)
	return !closeAfter[path]
}

func appSideGate(t *testing.T) (*gate, *scriptedApp) {
	t.Helper()
	app := startScriptedApp(t, scriptedAnswers)
	g := startGate(t, gateOptions{
		upstream: app.URL,
		timeout:  3 * time.Second,
		routes: []proxy.Route{
			{Path: "/internal/*", Mode: proxy.ModeDeny},
			{Path: "/v1/generate", Mode: proxy.ModeEncrypted},
			{Path: "/v1/*", Mode: proxy.ModePublic},
			{Path: "/pub/*", Mode: proxy.ModePublic},
			{Path: "/enc/*", Mode: proxy.ModeEncrypted, Response: proxy.ResponseEncrypted},
		},
	})
	return g, app
}

func gateAddr(g *gate) string { return strings.TrimPrefix(g.URL, "http://") }

// mustStillServe checks the gate answers an ordinary request after a case.
func mustStillServe(t *testing.T, g *gate) {
	t.Helper()
	st, _, body := rawRequest(t, http.MethodGet, g.URL+"/pub/ok", nil, nil)
	if st != 200 || string(body) != "ok" {
		t.Fatalf("after the case: %d %q, want 200 ok", st, body)
	}
}

func TestAppAnswersRelayed(t *testing.T) {
	g, _ := appSideGate(t)
	addr := gateAddr(g)
	cases := []struct {
		name, method, path string
		// want is what the raw answer to the validator must contain, and
		// not what it must not.
		status    int
		want, not []string
	}{
		{"204 keeps status and headers, gets no body or type", "GET", "/pub/no-content", 204,
			[]string{"X-App: yes\r\n"}, []string{"Content-Type", "Content-Length", "Transfer-Encoding"}},
		{"304 keeps its validators", "GET", "/pub/not-modified", 304,
			[]string{"Etag: \"v1\"\r\n"}, []string{"Content-Type", "Transfer-Encoding"}},
		{"HEAD keeps the app's Content-Length", "HEAD", "/pub/head-length", 200,
			[]string{"Content-Length: 1234\r\n", "Content-Type: text/plain\r\n"}, []string{"Transfer-Encoding"}},
		{"HEAD without a length gets none invented", "HEAD", "/pub/head-nolength", 200,
			[]string{"Content-Type: text/plain\r\n"}, []string{"Content-Length: 0", "Transfer-Encoding"}},
		{"an absurd Content-Length is refused unread", "GET", "/pub/huge-length", 502,
			[]string{`"error":"upstream_too_large"`}, nil},
		{"a body shorter than its length is a broken answer", "GET", "/pub/short-body", 502,
			[]string{`"error":"upstream_unavailable"`}, []string{"0123456789"}},
		{"no Content-Type stays none", "GET", "/pub/no-content-type", 200,
			[]string{"\r\n\r\nhi"}, []string{"Content-Type"}},
		{"headers the app's Connection names are removed", "GET", "/pub/connection-named", 200,
			[]string{"X-Kept: 1\r\n"}, []string{"X-Secret", "Keep-Alive"}},
		// httputil.ReverseProxy relays 1xx answers; fasthttp's client reads
		// past them, so the validator gets only the final answer.
		{"interim answers are dropped", "GET", "/pub/early-hints", 200,
			[]string{"\r\n\r\nfinal"}, []string{"103", "Link"}},
		{"a 101 nobody asked for is refused", "GET", "/pub/switching", 502,
			[]string{`"error":"upstream_invalid_response"`}, []string{"Upgrade: websocket"}},
		{"a chunked stream passes whole", "GET", "/pub/chunked", 200,
			[]string{"ab\n", "cd\n", "0\r\n\r\n"}, nil},
		{"a close-delimited body passes", "GET", "/pub/close-body", 200,
			[]string{"until close\n"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := rawExchange(t, addr, c.method+" "+c.path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if want := fmt.Sprintf("HTTP/1.1 %d ", c.status); !strings.HasPrefix(got, want) {
				t.Fatalf("answer %q, want status %d", got, c.status)
			}
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("answer %q lacks %q", got, w)
				}
			}
			for _, n := range c.not {
				if strings.Contains(got, n) {
					t.Errorf("answer %q has %q", got, n)
				}
			}
			mustStillServe(t, g)
		})
	}
	if p := series(t, g.Reg, "fibergate_panics_total")[""]; p != 0 {
		t.Errorf("%v panics recovered", p)
	}
}

// TestCutStreamLooksCut: when the app drops a chunked answer, the
// validator's answer ends without the final chunk and its connection
// closes, so no client can take it for a whole answer.
func TestCutStreamLooksCut(t *testing.T) {
	g, _ := appSideGate(t)
	got := rawExchange(t, gateAddr(g), "GET /pub/truncated HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200 ") || !strings.Contains(got, "line1\n") {
		t.Fatalf("answer %q: want the part the app sent", got)
	}
	if strings.HasSuffix(got, "0\r\n\r\n") {
		t.Errorf("answer %q ends with the final chunk: the cut is hidden", got)
	}
	waitSeries(t, g, "fibergate_upstream_streams_total", "upstream_error", 1)
	mustStillServe(t, g)
}

// teeBody records every byte of the answers a client reads.
type teeBody struct {
	rt  http.RoundTripper
	got *strings.Builder
}

func (t teeBody) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(r)
	if err == nil {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(resp.Body, t.got), resp.Body}
	}
	return resp, err
}

func encryptedStream(t *testing.T, g *gate, path string) (lines []string, raw string, err error) {
	t.Helper()
	var b strings.Builder
	kp := aliceKeypair(t)
	c, cerr := client.New(client.Options{BaseURL: g.URL, Keypair: kp, MinerHotkey: g.Miner, Now: g.Clock.Now,
		HTTP: &http.Client{Transport: teeBody{rt: http.DefaultTransport, got: &b}}})
	if cerr != nil {
		t.Fatal(cerr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Handshake(ctx); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	_, err = c.Stream(ctx, path, []byte(`{}`), func(l []byte) error {
		lines = append(lines, string(l))
		return nil
	})
	if ctx.Err() != nil {
		t.Fatalf("%s: the stream hung", path)
	}
	return lines, b.String(), err
}

// TestEncryptedStreamLines: each line is one token and "\n"; the empty line
// between server-sent events is a bare "\n", never an empty token.
func TestEncryptedStreamLines(t *testing.T) {
	g, _ := appSideGate(t)
	lines, raw, err := encryptedStream(t, g, "/enc/lines")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"data: a", "", "data: b"}; fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Errorf("lines %q, want %q", lines, want)
	}
	parts := strings.Split(raw, "\n")
	if len(parts) != 4 || parts[1] != "" || parts[0] == "" || parts[2] == "" || parts[3] != "" {
		t.Errorf("raw stream %q: want token, empty line, token", raw)
	}
	waitSeries(t, g, "fibergate_upstream_streams_total", "complete", 1)
}

// TestEncryptedStreamCut: the partial last line of a cut stream is never
// sealed, and the validator's client sees the stream fail.
func TestEncryptedStreamCut(t *testing.T) {
	g, _ := appSideGate(t)
	lines, raw, err := encryptedStream(t, g, "/enc/truncated")
	if err == nil {
		t.Errorf("the cut stream read as complete (lines %q)", lines)
	}
	if want := []string{"data: a", "", "data: b"}; fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Errorf("lines %q, want %q and nothing of the partial line", lines, want)
	}
	if n := strings.Count(raw, "\n"); n != 3 {
		t.Errorf("raw stream %q: %d lines, want 3", raw, n)
	}
	waitSeries(t, g, "fibergate_upstream_streams_total", "upstream_error", 1)
}

// TestEncryptedStreamLongLine: a line over the limit ends the stream as cut
// instead of being split into several tokens.
func TestEncryptedStreamLongLine(t *testing.T) {
	app := startScriptedApp(t, func(w *bufio.Writer, c net.Conn, r *scriptedRequest) bool {
		long := strings.Repeat("x", 100)
		fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\nshort\n%s\n\r\n0\r\n\r\n", 6+len(long)+1, long)
		return true
	})
	g := startGate(t, gateOptions{upstream: app.URL, maxStreamLine: 64,
		routes: []proxy.Route{{Path: "/enc/*", Mode: proxy.ModeEncrypted, Response: proxy.ResponseEncrypted}}})
	lines, _, err := encryptedStream(t, g, "/enc/long")
	if err == nil || len(lines) != 1 || lines[0] != "short" {
		t.Errorf("lines %q, err %v: want only the short line, then a cut", lines, err)
	}
	waitSeries(t, g, "fibergate_upstream_streams_total", "line_too_long", 1)
}

// waitSeries waits for a counter sample (by its one label value) to reach
// want: stream results are recorded as the stream ends, after the answer.
func waitSeries(t *testing.T, g *gate, name, label string, want float64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := series(t, g.Reg, name)[label]
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s{%s} = %v, want %v", name, label, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBodilessAnswersKeepConnections: after a 204, a 304 or a HEAD answer
// (with or without a length) the validator's connection carries the next
// request, and so does the app's.
func TestBodilessAnswersKeepConnections(t *testing.T) {
	g, app := appSideGate(t)
	c, err := net.Dial("tcp", gateAddr(g))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	seq := []struct{ method, path string }{
		{"GET", "/pub/no-content"}, {"HEAD", "/pub/head-nolength"}, {"GET", "/pub/not-modified"},
		{"HEAD", "/pub/head-length"}, {"GET", "/pub/ok"}, {"GET", "/pub/no-content"}, {"GET", "/pub/ok"},
	}
	for i, s := range seq {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\n\r\n", s.method, s.path); err != nil {
			t.Fatalf("request %d (%s %s): %v", i, s.method, s.path, err)
		}
		req, _ := http.NewRequest(s.method, "http://x"+s.path, nil)
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("answer %d (%s %s): %v", i, s.method, s.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if s.path == "/pub/ok" && string(body) != "ok" {
			t.Fatalf("answer %d: %q", i, body)
		}
		if resp.Close {
			t.Fatalf("answer %d (%s %s) closes the connection", i, s.method, s.path)
		}
	}
	if n := len(app.requests()); n != len(seq) {
		t.Errorf("the app got %d requests, want %d", n, len(seq))
	}
}
