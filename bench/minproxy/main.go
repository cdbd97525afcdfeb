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
	"time"

	"github.com/fibergate/fibergate/bench/internal/floor"
	"github.com/fibergate/fibergate/bench/internal/sigcheck"
	"github.com/valyala/fasthttp"
)

func main() {
	floor.Main("minproxy", "127.0.0.1:18081", func(s *floor.Settings) (fasthttp.RequestHandler, error) {
		hc, check, err := s.Client()
		if err != nil {
			return nil, err
		}
		p := &proxy{hc: hc, timeout: s.Timeout, check: check}
		return p.serve, nil
	})
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
