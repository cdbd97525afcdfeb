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

	"github.com/fibergate/fibergate/crypto/nonce"
	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/crypto/signature"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/metrics"
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
	case opts.Validators == nil:
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
	// Real time, for durations and rate limits: when the server read the
	// request, which fasthttp has already read the clock for.
	start := ctx.Time()
	if start.IsZero() {
		start = time.Now()
	}
	now := start // the protocol clock: nonces, tokens, keys
	if !h.realClock {
		now = h.opts.Now()
	}
	var label string
	var code Code
	handshake, closeConn := false, false
	defer func() {
		if p := recover(); p != nil {
			h.opts.Metrics.Panic()
			h.log.Error("handler panic", "panic", fmt.Sprint(p), "path", string(ctx.Path()))
			writeError(ctx, CodeInternal)
			code = CodeInternal
		}
		h.accessLog(ctx, label, code, start)
	}()
	switch {
	case badFraming(&ctx.Request):
		label, code, closeConn = "invalid_http", CodeBadRequest, true
	default:
		method, ok := canonicalMethod(ctx.Method())
		if !ok {
			label, code = "invalid_http", CodeMethodNotAllowed
			break
		}
		pathBuf := getBuf()
		defer putBuf(pathBuf)
		buf, path, target, ok := canonicalTarget((*pathBuf)[:0], ctx.URI())
		*pathBuf = buf
		if !ok {
			label, code = labelInvalidHTTP, CodeBadPath
			break
		}
		out := outbound{method: method, target: target, client: h.clientAddr(ctx)}
		code = h.limits.admit(ctx, out.client, start)
		switch string(path) {
		case "/public-encryption-key":
			label = "public_key"
			if code == "" {
				code = h.publicKey(ctx, now)
			}
		case "/exchange-symmetric-key":
			label, handshake = "handshake", true
			if code == "" {
				code = h.exchange(ctx, now, start)
			}
		default:
			r := h.routes.match(path)
			label = r.label
			if code == "" {
				code = h.proxy(ctx, r, out, now, start)
			}
		}
	}
	result := string(code)
	if code == "" {
		result = metrics.ResultOK
	}
	if handshake {
		h.opts.Metrics.Handshake(result, time.Since(start))
	} else {
		h.opts.Metrics.Request(label, result, time.Since(start))
	}
	if code != "" {
		writeError(ctx, code)
		if closeConn {
			ctx.SetConnectionClose()
		}
	}
}

// publicKey answers GET /public-encryption-key as Fiber does.
func (h *Handler) publicKey(ctx *fasthttp.RequestCtx, now time.Time) Code {
	if !ctx.IsGet() && !ctx.IsHead() {
		return CodeMethodNotAllowed
	}
	b := make([]byte, 0, len(h.pubKeyPEM)+64)
	b = append(b, `{"public_key":`...)
	b = append(b, h.pubKeyPEM...)
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendFloat(b, float64(now.UnixMicro())/1e6, 'f', 6, 64)
	b = append(b, '}')
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
	return ""
}

// checkNonce parses a header nonce and checks its time against the window.
func (h *Handler) checkNonce(n []byte, now time.Time) (int64, Code) {
	ts, err := nonce.Parse(n)
	if err != nil {
		return 0, CodeNonceMalformed
	}
	if err := nonce.CheckWindow(ts, now.UnixNano(), h.opts.NonceWindow); err != nil {
		return 0, nonceCode(err, false)
	}
	return ts, ""
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
