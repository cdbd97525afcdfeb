// Command minproxy is the lowest floor of the comparison in bench/run.sh:
// a fasthttp reverse proxy that hands the incoming request object to its
// HostClient as it is and lets the app's answer be written back as it
// came (HostClient.Do(&ctx.Request, &ctx.Response)): no header is copied,
// filtered or added, nothing is checked. With -verify it also verifies one
// sr25519 signature per request, with the same cached verifier fibergate
// uses, so "this proxy plus one verification" is the limit of any sidecar
// that must check a signature per request. It is a measurement tool, not
// part of fibergate.
//
//	minproxy -listen 127.0.0.1:18081 -upstream 127.0.0.1:19000 -verify
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fibergate/fibergate/bench/internal/sigcheck"
	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18081", "the address to listen on")
	upstream := flag.String("upstream", "127.0.0.1:19000", "the app's host:port (plain HTTP)")
	conns := flag.Int("max-conns", 512, "the most connections to the app")
	timeout := flag.Duration("timeout", 60*time.Second, "the time limit of each request to the app")
	verify := flag.Bool("verify", false, "verify one sr25519 signature per request, as fibergate does")
	flag.Parse()
	if err := run(*listen, *upstream, *conns, *timeout, *verify); err != nil {
		fmt.Fprintln(os.Stderr, "minproxy:", err)
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
		Name:               "minproxy",
		ReadTimeout:        30 * time.Second,
		WriteTimeout:       30 * time.Second,
		IdleTimeout:        120 * time.Second,
		MaxRequestBodySize: 16 << 20,
		ReadBufferSize:     16 << 10, // as fibergate's and plainproxy's
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		srv.Shutdown()
	}()
	fmt.Printf("minproxy listening on %s, forwarding to %s (verify %v)\n", ln.Addr(), upstream, verify)
	return srv.Serve(ln)
}

type proxy struct {
	hc      *fasthttp.HostClient
	timeout time.Duration
	check   *sigcheck.Check // nil: no verification
}

func (p *proxy) serve(ctx *fasthttp.RequestCtx) {
	if c := p.check; c != nil && !c.OK() {
		ctx.Error("verification failed", fasthttp.StatusUnauthorized)
		return
	}
	if err := p.hc.DoTimeout(&ctx.Request, &ctx.Response, p.timeout); err != nil {
		ctx.Error("upstream: "+err.Error(), fasthttp.StatusBadGateway)
	}
}
