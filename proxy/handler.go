package proxy

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/crypto/signature"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/valyala/fasthttp"
)

// Handler serves the Fiber endpoints and proxies every other path to the
// upstream app. It is safe for concurrent use; Serve is its fasthttp
// request handler.
type Handler struct {
	opts      Options
	routes    *routeTable
	ids       *identityCache
	limits    *limiter
	upAddr    string // host:port of the app, for readiness probes
	up        *upstream
	upHost    string
	pubKeyPEM string // JSON-quoted SPKI PEM, for /public-encryption-key
	minerSS58 []byte // this miner's canonical address
	window    int64  // nonce window in ns
	log       *slog.Logger
	realClock bool // Options.Now is time.Now: one clock reading serves both
}

// New checks opts, fills defaults and builds a Handler.
func New(opts Options) (*Handler, error) {
	switch {
	case opts.RSAKey == nil:
		return nil, errors.New("proxy: no RSA key")
	case opts.Keys == nil:
		return nil, errors.New("proxy: no key store")
	case opts.Nonces == nil:
		return nil, errors.New("proxy: no replay guard")
	case opts.Stakes == nil:
		return nil, errors.New("proxy: no validator list")
	case opts.Metrics == nil:
		return nil, errors.New("proxy: no metrics")
	}
	if opts.NonceWindow <= 0 {
		opts.NonceWindow = DefaultNonceWindow
	}
	if opts.KeyTTL <= 0 {
		opts.KeyTTL = DefaultKeyTTL
	}
	if opts.UpstreamTimeout <= 0 {
		opts.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if opts.UpstreamConns <= 0 {
		opts.UpstreamConns = DefaultUpstreamConns
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.MaxResponse <= 0 {
		opts.MaxResponse = DefaultMaxResponse
	}
	if opts.MaxStreamLine <= 0 {
		opts.MaxStreamLine = DefaultMaxStreamLine
	}
	realClock := opts.Now == nil
	if realClock {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(opts.UpstreamURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("proxy: upstream URL %q: want http://host:port", opts.UpstreamURL)
	}
	addr := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	pem, err := rsakey.PublicPEM(&opts.RSAKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("proxy: encoding the public key: %w", err)
	}
	h := &Handler{
		opts:      opts,
		routes:    newRouteTable(opts.Routes, opts.Default),
		limits:    newLimiter(opts.Limits),
		ids:       newIdentityCache(signature.Options{AllowEd25519: opts.AllowEd25519}, DefaultIdentityCache),
		upHost:    u.Host,
		upAddr:    addr,
		minerSS58: []byte(ss58.Encode(opts.MinerHotkey, ss58.Bittensor)),
		pubKeyPEM: strconv.Quote(string(pem)),
		window:    int64(opts.NonceWindow),
		realClock: realClock,
		log:       log.With("component", "proxy"),
	}
	var tlsConf *tls.Config
	if u.Scheme == "https" {
		tlsConf = &tls.Config{ServerName: u.Hostname()}
	}
	h.up = newUpstream(upstreamOptions{
		Addr:        addr,
		TLS:         tlsConf,
		MaxConns:    opts.UpstreamConns,
		IdleTimeout: opts.UpstreamIdle,
	})
	return h, nil
}

// Close releases the upstream connections.
func (h *Handler) Close() { h.up.Close() }

// Serve is the fasthttp request handler.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) {
	// The wall clock, for durations and rate limits, is when the server
	// read the request (fasthttp has read the clock already); the
	// protocol's is the same unless a test sets Options.Now.
	clk := clock{wall: ctx.Time()}
	if clk.wall.IsZero() {
		clk.wall = time.Now()
	}
	clk.protocol = clk.wall
	if !h.realClock {
		clk.protocol = h.opts.Now()
	}
	var label string
	var r refusal
	handshake, closeConn := false, false
	defer func() {
		if p := recover(); p != nil {
			h.opts.Metrics.Panic()
			h.log.Error("handler panic", "panic", fmt.Sprint(p), "path", string(ctx.Path()))
			r = refuse(CodeInternal)
			writeError(ctx, r)
		}
		h.accessLog(ctx, label, r.code, clk.wall)
	}()
	switch {
	case badFraming(&ctx.Request):
		label, r, closeConn = labelInvalidHTTP, refuse(CodeBadRequest), true
	default:
		method, ok := canonicalMethod(ctx.Method())
		if !ok {
			label, r = labelInvalidHTTP, refuse(CodeMethodNotAllowed)
			break
		}
		pathBuf := getBuf()
		defer putBuf(pathBuf)
		buf, path, target, ok := canonicalTarget((*pathBuf)[:0], ctx.URI())
		*pathBuf = buf
		if !ok {
			label, r = labelInvalidHTTP, refuse(CodeBadPath)
			break
		}
		out := outbound{method: method, target: target, client: h.clientAddr(ctx)}
		r = h.limits.admit(out.client, clk.wall)
		switch string(path) {
		case "/public-encryption-key":
			label = labelPublicKey
			if !r.refused() {
				r = h.publicKey(ctx, clk)
			}
		case "/exchange-symmetric-key":
			label, handshake = labelHandshake, true
			if !r.refused() {
				r = h.exchange(ctx, clk)
			}
		default:
			rt := h.routes.match(path)
			label = rt.label
			if !r.refused() {
				r = h.serveRoute(ctx, rt, out, clk)
			}
		}
	}
	if handshake {
		h.opts.Metrics.Handshake(r.code.result(), time.Since(clk.wall))
	} else {
		h.opts.Metrics.Request(label, r.code.result(), time.Since(clk.wall))
	}
	if r.refused() {
		writeError(ctx, r)
		if closeConn {
			ctx.SetConnectionClose()
		}
	}
}

// serveRoute applies route rt to a request for an app path: refused, passed
// on as it is, or checked as the route's mode requires.
func (h *Handler) serveRoute(ctx *fasthttp.RequestCtx, rt *route, out outbound, clk clock) refusal {
	switch rt.Mode {
	case ModeDeny:
		return refuse(CodeNotFound)
	case ModePublic:
		return refuse(h.forward(ctx, rt, out, upstreamCall{body: ctx.Request.Body(), keepType: true}))
	}
	var fh fiberHeaders
	readFiberHeaders(&ctx.Request, &fh)
	if fh.duplicate {
		return refuse(CodeDuplicateHeader)
	}
	if len(fh.validator) == 0 || len(fh.miner) == 0 || len(fh.nonce) == 0 || len(fh.signature) == 0 {
		return refuse(CodeMissingHeader)
	}
	if rt.Mode == ModeSigned {
		return h.serveSigned(ctx, rt, &fh, out, clk)
	}
	return h.serveEncrypted(ctx, rt, &fh, out, clk)
}

// publicKey answers GET /public-encryption-key as Fiber does.
func (h *Handler) publicKey(ctx *fasthttp.RequestCtx, clk clock) refusal {
	if !ctx.IsGet() && !ctx.IsHead() {
		return refuse(CodeMethodNotAllowed)
	}
	b := make([]byte, 0, len(h.pubKeyPEM)+64)
	b = append(b, `{"public_key":`...)
	b = append(b, h.pubKeyPEM...)
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendFloat(b, float64(clk.protocol.UnixMicro())/1e6, 'f', 6, 64)
	b = append(b, '}')
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
	return refusal{}
}

// bufPool holds scratch buffers for decrypted bodies and encrypted
// responses, so the hot path does not allocate them per request.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 1<<20 {
		return // let huge one-offs go
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}
