// Package floor is what the benchmark's floor proxies (bench/plainproxy,
// bench/minproxy) share: their flags, their client to the app and their
// server, set up as fibergate's are, so that the floors differ from each
// other and from fibergate only in what they do per request. The echo app
// behind them runs its server the same way. It is a measurement tool, not
// part of fibergate.
package floor

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

// Settings are a floor proxy's flags.
type Settings struct {
	Listen   string
	Upstream string // the app's host:port
	Conns    int
	Timeout  time.Duration
	Verify   bool // one sr25519 verification per request
}

// Flags registers the flags on the command line and returns where they
// land once flag.Parse runs.
func Flags(listen string) *Settings {
	s := &Settings{}
	flag.StringVar(&s.Listen, "listen", listen, "the address to listen on")
	flag.StringVar(&s.Upstream, "upstream", "127.0.0.1:19000", "the app's host:port (plain HTTP)")
	flag.IntVar(&s.Conns, "max-conns", 512, "the most connections to the app")
	flag.DurationVar(&s.Timeout, "timeout", 60*time.Second, "the time limit of each request to the app")
	flag.BoolVar(&s.Verify, "verify", false, "verify one sr25519 signature per request, as fibergate does (the floor plus one verification)")
	return s
}

// Client returns the keep-alive client to the app, and the per-request
// check when Verify is set (nil otherwise).
func (s *Settings) Client() (*fasthttp.HostClient, *sigcheck.Check, error) {
	if _, _, err := net.SplitHostPort(s.Upstream); err != nil {
		return nil, nil, fmt.Errorf("-upstream %q: want host:port: %w", s.Upstream, err)
	}
	hc := &fasthttp.HostClient{
		Addr:                      s.Upstream,
		MaxConns:                  s.Conns,
		MaxIdleConnDuration:       90 * time.Second,
		NoDefaultUserAgentHeader:  true,
		DisablePathNormalizing:    true,
		MaxIdemponentCallAttempts: 1,
	}
	if !s.Verify {
		return hc, nil, nil
	}
	c, err := sigcheck.New()
	return hc, c, err
}

// Serve runs handler on s.Listen until SIGINT or SIGTERM, with the limits
// fibergate's server has.
func Serve(name string, s *Settings, handler fasthttp.RequestHandler) error {
	return Run(name, s.Listen, handler, fmt.Sprintf(", forwarding to %s (verify %v)", s.Upstream, s.Verify))
}

// Run serves handler on listen until SIGINT or SIGTERM with the limits
// fibergate's server has; every server of the benchmark (the floors and
// the echo app behind them) runs this way. note ends the line it prints.
func Run(name, listen string, handler fasthttp.RequestHandler, note string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &fasthttp.Server{
		Handler:            handler,
		Name:               name,
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
	fmt.Printf("%s listening on %s%s\n", name, ln.Addr(), note)
	return srv.Serve(ln)
}

// Main parses the flags, builds the floor with build and serves it, exiting
// non-zero on an error.
func Main(name, listen string, build func(s *Settings) (fasthttp.RequestHandler, error)) {
	s := Flags(listen)
	flag.Parse()
	h, err := build(s)
	if err == nil {
		err = Serve(name, s, h)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
