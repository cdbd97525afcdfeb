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
	"net/netip"
	"time"

	"github.com/fibergate/fibergate/bench/internal/floor"
	"github.com/fibergate/fibergate/bench/internal/sigcheck"
	"github.com/valyala/fasthttp"
)

func main() {
	floor.Main("plainproxy", "127.0.0.1:18080", func(s *floor.Settings) (fasthttp.RequestHandler, error) {
		hc, check, err := s.Client()
		if err != nil {
			return nil, err
		}
		p := &proxy{hc: hc, host: []byte(s.Upstream), timeout: s.Timeout, check: check}
		return p.serve, nil
	})
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
