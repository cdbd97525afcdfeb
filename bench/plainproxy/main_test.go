package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// got is what the app behind the proxy received.
type got struct {
	method, uri string
	header      http.Header
	body        string
}

// TestForwards sends one request through the proxy to a recording app and
// checks both directions: method, path, query, end-to-end headers and body
// reach the app, hop-by-hop headers do not, and the app's status, headers
// and body come back.
func TestForwards(t *testing.T) {
	seen := make(chan got, 1)
	app, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	appSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen <- got{r.Method, r.RequestURI, r.Header.Clone(), string(b)}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-App", "yes")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"answer":1}`)
	})}
	go appSrv.Serve(app)
	t.Cleanup(func() { appSrv.Close() })

	p := &proxy{hc: &fasthttp.HostClient{Addr: app.Addr().String(), MaxIdemponentCallAttempts: 1}, host: []byte(app.Addr().String()), timeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: p.serve}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })

	req, err := http.NewRequest(http.MethodPut, "http://"+ln.Addr().String()+"/a/b?q=1&r=2", strings.NewReader(`{"x":"y"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Custom", "kept")
	req.Header.Set("Proxy-Authorization", "Basic c2VjcmV0")
	req.Header.Set("Te", "trailers")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)

	var g got
	select {
	case g = <-seen:
	case <-time.After(5 * time.Second):
		t.Fatal("the app got nothing")
	}
	if g.method != http.MethodPut || g.uri != "/a/b?q=1&r=2" || g.body != `{"x":"y"}` {
		t.Errorf("the app got %s %s %q, want PUT /a/b?q=1&r=2 {\"x\":\"y\"}", g.method, g.uri, g.body)
	}
	for k, want := range map[string]string{"X-Custom": "kept", "Content-Type": "application/json", "X-Forwarded-For": "127.0.0.1", "Proxy-Authorization": "", "Te": ""} {
		if v := g.header.Get(k); v != want {
			t.Errorf("the app got %s: %q, want %q", k, v, want)
		}
	}
	if resp.StatusCode != http.StatusCreated || string(body) != `{"answer":1}` {
		t.Errorf("got %d %q, want 201 {\"answer\":1}", resp.StatusCode, body)
	}
	if resp.Header.Get("X-App") != "yes" || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Keep-Alive") != "" {
		t.Errorf("answer headers %v: want X-App and Content-Type passed on, Keep-Alive dropped", resp.Header)
	}
}

// TestUpstreamDown answers 502 when the app cannot be reached.
func TestUpstreamDown(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := dead.Addr().String()
	dead.Close()
	p := &proxy{hc: &fasthttp.HostClient{Addr: addr, MaxIdemponentCallAttempts: 1}, host: []byte(addr), timeout: time.Second}
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/x")
	p.serve(&ctx)
	if got := ctx.Response.StatusCode(); got != fasthttp.StatusBadGateway {
		t.Errorf("status: got %d, want 502", got)
	}
}
