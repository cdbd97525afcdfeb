package proxy_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/internal/e2etest"
)

func TestUpstreamDownIsQuick502(t *testing.T) {
	g := startGate(t, gateOptions{upstream: "http://" + e2etest.FreeAddr(t)})
	c := newClient(t, g, aliceSeed)
	if err := c.Handshake(context.Background()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := c.Post(context.Background(), "/echo", []byte(`{}`))
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a dead upstream took %v to report", took)
	}
	if err == nil || !strings.Contains(err.Error(), "502 upstream_unavailable") {
		t.Errorf("got %v, want 502 upstream_unavailable", err)
	}
}

func TestUpstreamTimeoutIs504(t *testing.T) {
	up := startUpstream(t)
	g := startGate(t, gateOptions{upstream: up.URL, timeout: 300 * time.Millisecond})
	c := newClient(t, g, aliceSeed)
	if err := c.Handshake(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err := c.Post(context.Background(), "/slow", []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "504 upstream_timeout") {
		t.Errorf("got %v, want 504 upstream_timeout", err)
	}
	// The next request still works: the timed-out connection was not reused.
	if _, err := c.Post(context.Background(), "/echo", []byte(`{}`)); err != nil {
		t.Errorf("after a timeout: %v", err)
	}
}

// rawHTTP writes req on a fresh connection and returns the status line.
func rawHTTP(t *testing.T, url, req string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "http://"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "no response: " + err.Error()
	}
	resp.Body.Close()
	return resp.Status
}

func TestHTTPLimits(t *testing.T) {
	up := startUpstream(t)
	g := startGate(t, gateOptions{upstream: up.URL, maxBody: 1024})
	cases := []struct{ name, req, want string }{
		{"header too large", "GET /x HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("a", 20<<10) + "\r\n\r\n", "431"},
		{"declared body too large", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4096\r\n\r\n", "413"},
		{"garbage request line", "HELLO\r\n\r\n", "400"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(up.requests())
			if got := rawHTTP(t, g.URL, tc.req); !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %q, want %s", got, tc.want)
			}
			if n := len(up.requests()) - before; n != 0 {
				t.Errorf("the app received %d requests", n)
			}
		})
	}
}
