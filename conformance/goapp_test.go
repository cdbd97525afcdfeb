//go:build unix

package conformance_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// discardLog keeps net/http's complaints about the cut answers out of
// the test output.
var discardLog = log.New(io.Discard, "", 0)

// longLine is the long line of the long-line case: 2 MiB without a
// newline, over fibergate's default 1 MiB limits.max_stream_line.
const longLine = 2 << 20

// startGoApp runs the Go net/http app in this process.
func startGoApp(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &goApp{}
	srv := &http.Server{
		Handler:           a,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          discardLog,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, new(connState))
		},
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// goApp serves the suite's endpoints on net/http.
type goApp struct{ count atomic.Int64 }

// connState is what the app keeps about one connection.
type connState struct {
	closeNext atomic.Bool // the idle-close case: drop the next request unanswered
}

type connKey struct{}

func (a *goApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/__conformance/count" {
		writeJSON(w, 200, map[string]int64{"count": a.count.Load()}, "")
		return
	}
	a.count.Add(1)
	st := r.Context().Value(connKey{}).(*connState)
	if st.closeNext.Load() {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	body, _ := io.ReadAll(r.Body)
	c := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	if fn, ok := goCases[c]; ok {
		fn(w, r)
		return
	}
	var hs [][]string
	for k, vs := range r.Header {
		for _, v := range vs {
			hs = append(hs, []string{k, v})
		}
	}
	if r.Host != "" {
		hs = append(hs, []string{"Host", r.Host})
	}
	slices.SortFunc(hs, func(x, y []string) int { return strings.Compare(x[0], y[0]) })
	writeJSON(w, 200, map[string]any{
		"app":     "go",
		"method":  r.Method,
		"target":  r.RequestURI,
		"path":    r.URL.Path,
		"query":   r.URL.RawQuery,
		"headers": hs,
		"body":    base64.StdEncoding.EncodeToString(body),
	}, "")
}

func writeJSON(w http.ResponseWriter, status int, v any, c string) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	if c != "" {
		w.Header().Set("X-Case", c)
	}
	w.WriteHeader(status)
	w.Write(b)
}

func flushed(w http.ResponseWriter, s string) {
	io.WriteString(w, s)
	w.(http.Flusher).Flush()
}

// hijack takes the connection to write an answer net/http would not.
func hijack(w http.ResponseWriter, raw string) {
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	buf.WriteString(raw)
	buf.Flush()
}

var goCases = map[string]http.HandlerFunc{
	"json-length": func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"case": "json-length", "ok": true}, "json-length")
	},
	"chunked": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Case", "chunked")
		for i := 1; i <= 3; i++ {
			flushed(w, fmt.Sprintf("chunk %d\n", i))
			time.Sleep(10 * time.Millisecond)
		}
	},
	// net/http chunks an HTTP/1.1 answer without a length: the
	// close-delimited one is written on the hijacked connection.
	"close-delimited": func(w http.ResponseWriter, r *http.Request) {
		hijack(w, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nX-Case: close-delimited\r\n\r\nclose 1\nclose 2\nclose 3\n")
	},
	"sse": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("X-Case", "sse")
		flushed(w, "data: a\n\n")
		time.Sleep(10 * time.Millisecond)
		flushed(w, "data: b\n\n")
	},
	"no-content": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Case", "no-content")
		w.WriteHeader(204)
	},
	"not-modified": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("X-Case", "not-modified")
		w.WriteHeader(304)
	},
	"head-length": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "1234")
		w.Header().Set("X-Case", "head-length")
		w.WriteHeader(200)
	},
	"head-nolength": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Case", "head-nolength")
		w.WriteHeader(200)
	},
	"early-hints": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</hint.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		writeJSON(w, 200, map[string]string{"case": "early-hints"}, "early-hints")
	},
	"truncated": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Case", "truncated")
		flushed(w, "line 1\n")
		flushed(w, "line 2\n")
		flushed(w, "partial")
		// net/http closes the connection without the last chunk.
		panic(http.ErrAbortHandler)
	},
	"huge-length": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "1099511627776")
		w.Header().Set("X-Case", "huge-length")
		flushed(w, `{"a":1}`)
		// Returning short of the length makes net/http close the connection.
	},
	"short-body": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "100")
		w.Header().Set("X-Case", "short-body")
		flushed(w, "0123456789")
	},
	"idle-close": func(w http.ResponseWriter, r *http.Request) {
		r.Context().Value(connKey{}).(*connState).closeNext.Store(true)
		writeJSON(w, 200, map[string]string{"case": "idle-close"}, "idle-close")
	},
	"connection-named": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Secret")
		w.Header().Set("X-Secret", "1")
		w.Header().Set("X-Kept", "1")
		writeJSON(w, 200, map[string]string{"case": "connection-named"}, "connection-named")
	},
	"no-content-type": func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil // no sniffing
		w.Header().Set("Content-Length", "12")
		w.Header().Set("X-Case", "no-content-type")
		io.WriteString(w, "no type here")
	},
	"long-line": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Case", "long-line")
		flushed(w, "first\n")
		piece := strings.Repeat("a", 64<<10)
		for n := 0; n < longLine; n += len(piece) {
			flushed(w, piece)
		}
		flushed(w, "\n")
	},
}
