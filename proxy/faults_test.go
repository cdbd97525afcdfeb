package proxy_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/proxy"
)

// TestUpstreamClosesMidStream: the app sends one line of a chunked answer
// and drops the connection. The validator gets that line, its stream ends
// (no hang), and the metric counts an upstream error.
func TestUpstreamClosesMidStream(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
		buf.WriteString("d\r\ndata: line 0\n\r\n")
		buf.Flush()
		time.Sleep(50 * time.Millisecond)
		conn.Close()
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	for _, enc := range []bool{false, true} {
		resp := proxy.ResponsePlain
		if enc {
			resp = proxy.ResponseEncrypted
		}
		g := startGate(t, gateOptions{upstream: "http://" + ln.Addr().String(), routes: []proxy.Route{{Path: "/stream/*", Mode: proxy.ModeEncrypted, Response: resp}}})
		c := newClient(t, g, aliceSeed)
		if err := c.Handshake(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var lines []string
		status, err := c.Stream(ctx, "/stream/x", []byte(`{}`), func(l []byte) error {
			lines = append(lines, string(l))
			return nil
		})
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("encrypted=%v: the stream hung after the app dropped it", enc)
		}
		cancel()
		if err == nil {
			t.Errorf("encrypted=%v: the cut stream ended cleanly for the validator", enc)
		}
		if status != 200 || len(lines) != 1 || lines[0] != "data: line 0" {
			t.Errorf("encrypted=%v: got status %d, lines %q (err %v), want the one line sent", enc, status, lines, err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for {
			mfs, _ := g.Reg.Gather()
			got := 0.0
			for _, mf := range mfs {
				if mf.GetName() == "fibergate_upstream_streams_total" {
					for _, m := range mf.GetMetric() {
						if m.GetLabel()[0].GetValue() == "upstream_error" {
							got = m.GetCounter().GetValue()
						}
					}
				}
			}
			if got == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("encrypted=%v: streams_total{result=upstream_error} = %v, want 1", enc, got)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestSlowClientIsCutOff: a client that trickles its headers is
// disconnected at the read timeout, while an honest client is served.
func TestSlowClientIsCutOff(t *testing.T) {
	up := startUpstream(t)
	g := startGate(t, gateOptions{upstream: up.URL, def: &proxy.Route{Path: "*", Mode: proxy.ModePublic}})
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		// One header byte every 200 ms: never a whole request.
		for _, b := range []byte("GET /x HTTP/1.1\r\nHost: a\r\nX-Slow: " + strings.Repeat("s", 200)) {
			if _, err := conn.Write([]byte{b}); err != nil {
				closed <- time.Since(start)
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		closed <- -1
	}()
	// Meanwhile an honest request goes through.
	if status, _, body := rawRequest(t, "GET", g.URL+"/ok", nil, nil); status != 200 {
		t.Errorf("honest request during a slow one: %d %s", status, body)
	}
	select {
	case d := <-closed:
		if d < 0 {
			t.Fatal("the slow client was never cut off")
		}
		// The test server's read timeout is 5 s.
		if d > 8*time.Second {
			t.Errorf("cut off after %v, want about the 5 s read timeout", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the slow client was still connected after 15 s")
	}
}
