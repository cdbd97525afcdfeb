package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/bench/internal/sigcheck"
	"github.com/valyala/fasthttp"
)

// TestForwards sends a request through the proxy, with and without the
// per-request verification, to an app that echoes it: method, path, body
// and the app's status, header and body make the round trip.
func TestForwards(t *testing.T) {
	app, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	appSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-App", r.Method+" "+r.RequestURI)
		w.WriteHeader(http.StatusCreated)
		w.Write(b)
	})}
	go appSrv.Serve(app)
	t.Cleanup(func() { appSrv.Close() })

	for _, verify := range []bool{false, true} {
		p := &proxy{hc: &fasthttp.HostClient{Addr: app.Addr().String()}, timeout: 5 * time.Second}
		if verify {
			c, err := sigcheck.New()
			if err != nil {
				t.Fatal(err)
			}
			p.check = c
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &fasthttp.Server{Handler: p.serve}
		go srv.Serve(ln)
		resp, err := http.Post("http://"+ln.Addr().String()+"/echo?q=1", "application/json", strings.NewReader(`{"a":1}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || string(b) != `{"a":1}` || resp.Header.Get("X-App") != "POST /echo?q=1" {
			t.Errorf("verify=%v: got %d %q %q", verify, resp.StatusCode, b, resp.Header.Get("X-App"))
		}
		srv.Shutdown()
	}
}
