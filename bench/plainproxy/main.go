// Command plainproxy is the floor of the comparison in bench/run.sh: a
// reverse proxy that forwards the way fibergate does (one fasthttp
// HostClient with keep-alive connections to the app; each request copied
// with its method, path and query, headers but hop-by-hop ones, and body,
// plus X-Forwarded-For; the answer's status, headers and body copied back)
// but does no Fiber work at all: no handshake, no signature check, no
// decryption, no encryption. fibergate's throughput as a fraction of this
// one's is what the Fiber work costs; with -verify it also verifies one
// sr25519 signature per request (bench/internal/sigcheck), so that
// fraction is what fibergate costs beyond the one check it cannot skip.
// It is a measurement tool, not part of fibergate.
//
//	plainproxy -listen 127.0.0.1:18080 -upstream 127.0.0.1:19000
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fibergate/fibergate/bench/internal/sigcheck"
	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18080", "the address to listen on")
	upstream := flag.String("upstream", "127.0.0.1:19000", "the app's host:port (plain HTTP)")
	conns := flag.Int("max-conns", 512, "the most connections to the app")
	timeout := flag.Duration("timeout", 60*time.Second, "the time limit of each request to the app")
	verify := flag.Bool("verify", false, "verify one sr25519 signature per request, as fibergate does (the floor plus one verification)")
	flag.Parse()
	if err := run(*listen, *upstream, *conns, *timeout, *verify); err != nil {
		fmt.Fprintln(os.Stderr, "plainproxy:", err)
		os.Exit(1)
	}
}

func run(listen, upstream string, conns int, timeout time.Duration, verify bool) error {
	if _, _, err := net.SplitHostPort(upstream); err != nil {
		return fmt.Errorf("-upstream %q: want host:port: %w", upstream, err)
	}
	p := &proxy{
		hc: &fasthttp.HostClient{
			Addr:                      upstream,
			MaxConns:                  conns,
			MaxIdleConnDuration:       90 * time.Second,
			NoDefaultUserAgentHeader:  true,
			DisablePathNormalizing:    true,
			MaxIdemponentCallAttempts: 1,
		},
		host:    []byte(upstream),
		timeout: timeout,
	}
	if verify {
		c, err := sigcheck.New()
		if err != nil {
			return err
		}
		p.check = c
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &fasthttp.Server{
		Handler:            p.serve,
		Name:               "plainproxy",
		ReadTimeout:        30 * time.Second,
		WriteTimeout:       30 * time.Second,
		IdleTimeout:        120 * time.Second,
		MaxRequestBodySize: 16 << 20,
		// As fibergate's (its limits.max_header): a 4 KiB body and its
		// headers arrive in one read.
		ReadBufferSize: 16 << 10,
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		srv.Shutdown()
	}()
	fmt.Printf("plainproxy listening on %s, forwarding to %s\n", ln.Addr(), upstream)
	return srv.Serve(ln)
}

// proxy forwards every request to one app.
type proxy struct {
	hc      *fasthttp.HostClient
	host    []byte
	timeout time.Duration
	check   *sigcheck.Check // nil: no verification
}

// hopByHop are the headers that describe one connection, not the message;
// a proxy does not forward them.
var hopByHop = [][]byte{
	[]byte("Connection"), []byte("Keep-Alive"), []byte("Proxy-Connection"),
	[]byte("Proxy-Authenticate"), []byte("Proxy-Authorization"), []byte("Te"),
	[]byte("Trailer"), []byte("Transfer-Encoding"), []byte("Upgrade"),
}

// skip reports whether header k stays behind: hop-by-hop headers, and
// those fasthttp writes itself from the message.
func skip(k []byte) bool {
	if bytes.EqualFold(k, []byte("Host")) || bytes.EqualFold(k, []byte("Content-Length")) {
		return true
	}
	for _, h := range hopByHop {
		if bytes.EqualFold(k, h) {
			return true
		}
	}
	return false
}

func (p *proxy) serve(ctx *fasthttp.RequestCtx) {
	if c := p.check; c != nil && !c.OK() {
		ctx.Error("verification failed", fasthttp.StatusUnauthorized)
		return
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)

	req.Header.SetMethodBytes(ctx.Method())
	req.SetRequestURIBytes(ctx.RequestURI())
	req.URI().SetHostBytes(p.host)
	for k, v := range ctx.Request.Header.All() {
		if !skip(k) {
			req.Header.AddBytesKV(k, v)
		}
	}
	if ip, ok := netip.AddrFromSlice(ctx.RemoteIP()); ok {
		var buf [48]byte
		req.Header.AddBytesV("X-Forwarded-For", ip.Unmap().AppendTo(buf[:0]))
	}
	req.SetBodyRaw(ctx.PostBody()) // valid until serve returns, which is after the call

	if err := p.hc.DoTimeout(req, resp, p.timeout); err != nil {
		ctx.Error("upstream unavailable", fasthttp.StatusBadGateway)
		return
	}
	ctx.Response.SetStatusCode(resp.StatusCode())
	for k, v := range resp.Header.All() {
		switch {
		case skip(k), bytes.EqualFold(k, []byte("Date")):
		case bytes.EqualFold(k, []byte("Content-Type")):
			ctx.Response.Header.SetContentTypeBytes(v)
		case bytes.EqualFold(k, []byte("Server")):
			ctx.Response.Header.SetServerBytes(v)
		default:
			ctx.Response.Header.AddBytesKV(k, v)
		}
	}
	ctx.Response.SetBody(resp.Body())
}
