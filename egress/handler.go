package egress

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/metrics"
	"github.com/valyala/fasthttp"
)

// Headers a caller may send to egress. None of them reaches a miner.
const (
	HeaderMiner   = "X-Fibergate-Miner"   // the miner, by SS58 address or uid, with the path as it is
	HeaderMode    = "X-Fibergate-Mode"    // encrypted or signed, over the route's mode
	HeaderAddress = "X-Fibergate-Address" // the miner's address (miners.allow_explicit_address)
)

// Results of a relayed answer, beside egress's own codes: the values of the
// requests metric's result label.
const (
	ResultOK           = metrics.ResultOK // 1xx to 3xx
	ResultMinerRefused = "miner_refused"  // 4xx
	ResultMinerError   = "miner_error"    // 5xx
)

// Results lists the request result label values other than ok.
func Results() []string {
	return append([]string{ResultMinerRefused, ResultMinerError}, Codes()...)
}

// Handler is egress's request handler. It is safe for concurrent use.
type Handler struct {
	opts      Options
	log       *slog.Logger
	m         *metrics.Egress
	validator []byte // the validator's SS58 address

	states   sync.Map // [32]byte -> *minerState
	nStates  atomic.Int32
	inFlight atomic.Int32
	conns    *connRegistry
	restored map[[32]byte]*session // keys from the snapshot; read-only
}

// New checks opts and returns a Handler. Keys found in opts.Keys (restored
// from a snapshot) are used for their miners.
func New(opts Options) (*Handler, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	h := &Handler{
		opts:      o,
		log:       o.Logger.With("component", "egress"),
		m:         o.Metrics,
		validator: []byte(ss58.Encode(o.Keypair.Public(), ss58.Bittensor)),
		conns:     newConnRegistry(),
		restored:  make(map[[32]byte]*session),
	}
	if o.Keys != nil {
		now := o.Now()
		for _, e := range o.Keys.Entries(now) {
			if old, ok := h.restored[e.Validator]; ok && !e.Created.After(old.created) {
				continue
			}
			expires := min(e.Expires.UnixNano(), e.Created.Add(o.KeyTTL).UnixNano())
			h.restored[e.Validator] = &session{
				key: e.Key, uuid: []byte(e.UUID), created: e.Created,
				renewAt: e.Created.Add(o.KeyTTL - o.RenewBefore), expires: time.Unix(0, expires),
			}
		}
	}
	h.m.Init(Modes(), Results(), HandshakeResults(), Triggers(), StreamResults(), Sources())
	return h, nil
}

// Validator returns the SS58 address egress signs as.
func (h *Handler) Validator() string { return string(h.validator) }

// InFlight returns the number of requests being served.
func (h *Handler) InFlight() int { return int(h.inFlight.Load()) }

// Keys returns the number of miners egress holds a live key for.
func (h *Handler) Keys() int {
	n := 0
	now := h.opts.Now()
	h.states.Range(func(_, v any) bool {
		if s := v.(*minerState).sess.Load(); s != nil && now.Before(s.expires) {
			n++
		}
		return true
	})
	return n
}

// Close releases the connections to miners.
func (h *Handler) Close() {
	h.states.Range(func(_, v any) bool {
		if u := v.(*minerState).up.Load(); u != nil {
			u.hc.CloseIdleConnections()
		}
		return true
	})
}

// Serve is the fasthttp request handler.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	var c call
	defer func() {
		if v := recover(); v != nil {
			h.m.Panic()
			h.log.Error("handler panic", "panic", fmt.Sprint(v))
			if !c.streaming {
				ctx.Response.SetBodyStream(nil, 0)
				writeError(ctx, CodeInternal, "", 0)
				c.result = string(CodeInternal)
			}
			c.release()
		}
		if c.result == "" {
			c.result = string(CodeInternal) // a path that forgot to say: bounded all the same
		}
		h.m.Request(c.mode.String(), c.result, time.Since(start))
	}()
	h.serve(ctx, &c, start)
	if !c.streaming {
		c.release()
	}
}

// call is one request's state: what it holds and how it ended.
type call struct {
	mode      Mode
	result    string
	m         *minerState // holds a per-miner slot when set
	global    bool        // holds a slot of the total
	h         *Handler
	streaming bool // the answer's stream owns the slots now
	buf       *[]byte
	plain     *[]byte
	token     *[]byte
}

// release gives back the slots and buffers, once.
func (c *call) release() {
	if c.m != nil {
		c.m.inFlight.Add(-1)
		c.m = nil
	}
	if c.global {
		c.h.inFlight.Add(-1)
		c.global = false
	}
	for _, b := range []**[]byte{&c.buf, &c.plain, &c.token} {
		if *b != nil {
			putBuf(*b)
			*b = nil
		}
	}
}

func (h *Handler) fail(ctx *fasthttp.RequestCtx, c *call, code Code, detail string, retryAfter int) {
	writeError(ctx, code, detail, retryAfter)
	c.result = string(code)
}

func (h *Handler) serve(ctx *fasthttp.RequestCtx, c *call, start time.Time) {
	c.h = h
	if !h.allowed(ctx.RemoteAddr()) {
		h.fail(ctx, c, CodeClientNotAllowed, "", 0)
		return
	}
	get := ctx.IsGet()
	if !get && !ctx.IsPost() {
		h.fail(ctx, c, CodeMethodNotAllowed, "", 0)
		ctx.Response.Header.Set("Allow", "GET, POST")
		return
	}
	req := &ctx.Request
	t, detail := parseTarget(ctx.URI().PathOriginal(), req.Header.Peek(HeaderMiner))
	if detail != "" {
		h.fail(ctx, c, CodeBadTarget, detail, 0)
		return
	}
	c.mode = h.routeMode(t.path)
	if v := req.Header.Peek(HeaderMode); len(v) > 0 {
		mode, ok := parseMode(v)
		if !ok {
			h.fail(ctx, c, CodeBadRequest, "X-Fibergate-Mode: want encrypted or signed", 0)
			return
		}
		c.mode = mode
	}
	mi, code, detail := h.resolve(&t, req.Header.Peek(HeaderAddress))
	if code != "" {
		h.fail(ctx, c, code, detail, 0)
		return
	}
	body := req.Body()
	if get && len(body) > 0 {
		h.fail(ctx, c, CodeBodyNotAllowed, "", 0)
		return
	}
	c.buf = getBuf()
	if c.mode == ModeEncrypted && !get {
		// The body must be one JSON object; it gets its inner nonce now,
		// before any exchange, so a bad body costs the miner nothing.
		c.plain = getBuf()
		var rnd [client.NonceSuffixLen]byte
		if err := h.fill(rnd[:]); err != nil {
			h.fail(ctx, c, CodeInternal, "", 0)
			return
		}
		nonce := client.AppendNonce((*c.buf)[:0], h.opts.Now(), rnd[:])
		p, err := client.AppendWithNonce((*c.plain)[:0], body, nonce)
		*c.plain = p
		if err != nil {
			h.fail(ctx, c, CodeInvalidJSON, "", 0)
			return
		}
	}

	if h.inFlight.Add(1) > int32(h.opts.Limits.MaxInFlight) {
		h.inFlight.Add(-1)
		h.fail(ctx, c, CodeOverloaded, "", 1)
		return
	}
	c.global = true
	m := h.state(mi.PublicKey)
	if m == nil {
		h.fail(ctx, c, CodeOverloaded, "too many miners", 1)
		return
	}
	if m.inFlight.Add(1) > int32(h.opts.Limits.MaxInFlightPerMiner) {
		m.inFlight.Add(-1)
		h.fail(ctx, c, CodeOverloaded, "too many requests in flight to this miner", 1)
		return
	}
	c.m = m
	if d := m.backedOff(h.opts.Now()); d > 0 {
		h.fail(ctx, c, CodeMinerBackoff, "", int((d+time.Second-1)/time.Second))
		return
	}
	up := h.upstreamFor(m, mi.Addr, mi.TLS)
	h.send(ctx, c, m, up, &t, start)
}

// allowed reports whether the caller at addr may use egress: one of
// AllowClients, or with none given, a loopback address.
func (h *Handler) allowed(addr net.Addr) bool {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.UnixAddr:
		return true
	}
	ip = ip.Unmap()
	if len(h.opts.AllowClients) == 0 {
		return ip.IsLoopback()
	}
	for _, p := range h.opts.AllowClients {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// routeMode returns the mode of the miner-side path p.
func (h *Handler) routeMode(p []byte) Mode {
	for i := range h.opts.Routes {
		if h.opts.Routes[i].match(p) {
			return h.opts.Routes[i].Mode
		}
	}
	return h.opts.Mode
}

// resolve finds where the named miner serves.
func (h *Handler) resolve(t *target, explicit []byte) (*Miner, Code, string) {
	var mi *Miner
	var ok bool
	if t.uid >= 0 {
		mi, ok = h.opts.Directory.ByUID(t.uid)
	} else {
		mi, ok = h.opts.Directory.ByKey(t.pub)
	}
	if len(explicit) > 0 {
		if !h.opts.AllowExplicitAddress {
			return nil, CodeBadTarget, "X-Fibergate-Address: explicit addresses are off (miners.allow_explicit_address)"
		}
		addr, isTLS, err := ParseAddress(string(explicit))
		if err != nil {
			return nil, CodeBadTarget, "X-Fibergate-Address: " + err.Error()
		}
		if !ok && t.uid >= 0 {
			return nil, CodeUnknownMiner, ""
		}
		pub := t.pub
		if ok {
			pub = mi.PublicKey
		}
		return &Miner{PublicKey: pub, UID: t.uid, Addr: addr, TLS: isTLS}, "", ""
	}
	if !ok {
		return nil, CodeUnknownMiner, ""
	}
	if !mi.Serving() {
		return nil, CodeMinerNotServing, ""
	}
	return mi, "", ""
}

// state returns the state of the miner with public key pub, made on first
// use (with a key restored from the snapshot, if any); nil when MaxMiners
// states exist.
func (h *Handler) state(pub [32]byte) *minerState {
	if v, ok := h.states.Load(pub); ok {
		return v.(*minerState)
	}
	if h.nStates.Add(1) > MaxMiners {
		h.nStates.Add(-1)
		return nil
	}
	m := &minerState{pub: pub, ss58: []byte(ss58.Encode(pub, ss58.Bittensor))}
	if s := h.restored[pub]; s != nil {
		m.sess.Store(s)
	}
	v, loaded := h.states.LoadOrStore(pub, m)
	if loaded {
		h.nStates.Add(-1)
	}
	return v.(*minerState)
}

// upstreamFor returns m's connection pool to addr, replacing one to
// another address (the miner moved, or the request named another).
func (h *Handler) upstreamFor(m *minerState, addr string, isTLS bool) *upstream {
	if u := m.up.Load(); u != nil && u.addr == addr && u.tls == isTLS {
		return u
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if u := m.up.Load(); u != nil && u.addr == addr && u.tls == isTLS {
		return u
	}
	u := &upstream{addr: addr, tls: isTLS, hc: h.newHostClient(addr, isTLS)}
	if old := m.up.Swap(u); old != nil {
		old.hc.CloseIdleConnections()
	}
	return u
}

// newHostClient returns the connection pool to one miner address. Each
// request holds a connection, so it has room for every request the
// per-miner bound admits, and a key exchange beside them.
func (h *Handler) newHostClient(addr string, isTLS bool) *fasthttp.HostClient {
	connect := h.opts.Timeouts.Connect
	var hc *fasthttp.HostClient
	hc = &fasthttp.HostClient{
		Addr:                          addr,
		IsTLS:                         isTLS,
		MaxConns:                      h.opts.Limits.MaxInFlightPerMiner + 4,
		MaxConnWaitTimeout:            connect,
		MaxIdleConnDuration:           30 * time.Second,
		StreamResponseBody:            true,
		ReadBufferSize:                16 << 10,
		WriteBufferSize:               16 << 10,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		MaxIdemponentCallAttempts:     maxAttempts,
		RetryIfErr:                    retryStale,
		Dial: func(a string) (net.Conn, error) {
			d := net.Dialer{Timeout: connect}
			c, err := d.Dial("tcp", a)
			if err != nil {
				return nil, err
			}
			return h.conns.wrap(c, !isTLS, func() { hc.CloseIdleConnections() }), nil
		},
	}
	if isTLS {
		host, _, _ := net.SplitHostPort(addr)
		hc.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	return hc
}

// setURI sets req's target at up: path and query, absolute so the scheme
// is the pool's.
func (h *Handler) setURI(req *fasthttp.Request, up *upstream, path, query []byte) {
	var b [512]byte
	u := b[:0]
	if up.tls {
		u = append(u, "https://"...)
	} else {
		u = append(u, "http://"...)
	}
	u = append(u, up.addr...)
	u = append(u, path...)
	if len(query) > 0 {
		u = append(u, '?')
		u = append(u, query...)
	}
	req.SetRequestURIBytes(u)
	req.URI().DisablePathNormalizing = true
	req.Header.SetHost(up.addr)
}

// signHeaders sets Fiber's signed headers on req: validator-hotkey,
// miner-hotkey, a nonce for now (its suffix from rnd) and the signature
// over "{nonce}:{miner}:{third}" ("{nonce}:{miner}" when third is empty).
func (h *Handler) signHeaders(req *fasthttp.Request, m *minerState, now time.Time, rnd, third []byte) error {
	var b [256]byte
	nonce := client.AppendNonce(b[:0], now, rnd)
	msg := client.AppendSigningMessage(nonce[len(nonce):], nonce, m.ss58, third)
	var sb [2 + 128]byte
	sig, err := client.AppendSignature(sb[:0], h.opts.Keypair, msg, h.opts.Rand)
	if err != nil {
		return err
	}
	req.Header.SetBytesV(client.HeaderValidatorHotkey, h.validator)
	req.Header.SetBytesV(client.HeaderMinerHotkey, m.ss58)
	req.Header.SetBytesV(client.HeaderNonce, nonce)
	req.Header.SetBytesV(client.HeaderSignature, sig)
	return nil
}

// send signs (and in encrypted mode encrypts) the caller's request, edited
// in place, sends it to the miner and relays the answer. In encrypted mode
// an answer saying the miner does not know the key makes it exchange a new
// one and send the request once more.
func (h *Handler) send(ctx *fasthttp.RequestCtx, c *call, m *minerState, up *upstream, t *target, start time.Time) {
	req := &ctx.Request
	total := start.Add(h.opts.Timeouts.Total)
	get := ctx.IsGet()
	*c.buf = stripRequestHeaders(req, c.mode == ModeSigned, (*c.buf)[:0])
	// t.path and the query are views of the request's URI: setURI copies
	// them before it replaces the URI.
	h.setURI(req, up, t.path, ctx.URI().QueryString())
	req.Header.DisableNormalizing()
	req.Header.SetProtocol("HTTP/1.1")
	req.Header.ResetConnectionClose()

	var stale *session
	for attempt := 0; ; attempt++ {
		var sess *session
		if c.mode == ModeEncrypted {
			s, ref, code := h.keyFor(m, up, stale, total)
			if ref != nil {
				h.relayRefusal(ctx, c, ref)
				return
			}
			if code != "" {
				h.fail(ctx, c, code, "", 0)
				return
			}
			sess = s
		}
		if code := h.sign(req, c, m, sess, get, attempt > 0); code != "" {
			h.fail(ctx, c, code, "", 0)
			return
		}
		resp := fasthttp.AcquireResponse()
		sent := time.Now()
		err := up.hc.DoDeadline(req, resp, minTime(sent.Add(h.opts.Timeouts.Connect+h.opts.Timeouts.FirstByte), total))
		if err != nil {
			fasthttp.ReleaseResponse(resp)
			code := transportCode(err)
			if code == CodeMinerUnreachable || code == CodeMinerTimeout {
				if m.failed(h.opts.Backoff, h.opts.Now()) {
					h.m.Backoff()
				}
			}
			h.log.Debug("request to miner failed", "miner", string(m.ss58), "addr", up.addr, "err", err)
			h.fail(ctx, c, code, "", 0)
			return
		}
		m.answered()
		h.m.Miner(c.mode.String(), time.Since(sent))
		if tc := h.conns.lookup(resp.LocalAddr(), resp.RemoteAddr()); tc != nil {
			tc.stream(h.opts.Timeouts.Idle, total)
		}
		if c.mode == ModeEncrypted && attempt == 0 && resp.StatusCode() == fasthttp.StatusBadRequest {
			body, err := readAll(resp, h.opts.Limits.MaxResponse)
			if err != nil {
				fasthttp.ReleaseResponse(resp)
				h.fail(ctx, c, answerCode(err), "", 0)
				return
			}
			if client.IsUnknownKey(fasthttp.StatusBadRequest, body) {
				fasthttp.ReleaseResponse(resp)
				stale = sess
				continue
			}
			var key *fernet.Key
			if encryptedAnswer(resp) {
				key = sess.key
			}
			h.relayWhole(ctx, c, resp, body, key)
			fasthttp.ReleaseResponse(resp)
			return
		}
		h.relay(ctx, c, resp, sess)
		return
	}
}

// sign sets the signed headers and body of one attempt: in encrypted mode
// the key's uuid, and for a POST the caller's JSON with a fresh inner
// nonce (again on a retry) as a Fernet token; in signed mode the signature
// over the body's hash (a GET over the nonce and miner alone).
func (h *Handler) sign(req *fasthttp.Request, c *call, m *minerState, sess *session, get, again bool) Code {
	var rnd [2*client.NonceSuffixLen + 16]byte
	if err := h.fill(rnd[:]); err != nil {
		return CodeInternal
	}
	now := h.opts.Now()
	var third []byte
	switch {
	case sess != nil:
		third = sess.uuid
	case !get:
		third = client.AppendBodyHash((*c.buf)[:0], req.Body())
	}
	if err := h.signHeaders(req, m, now, rnd[:client.NonceSuffixLen], third); err != nil {
		return CodeInternal
	}
	if sess == nil {
		if !get && len(req.Header.ContentType()) == 0 {
			req.Header.SetContentType("application/json")
		}
		return ""
	}
	req.Header.SetBytesV(client.HeaderKeyUUID, sess.uuid)
	req.Header.SetContentType("application/octet-stream")
	if h.opts.EncryptedResponses {
		req.Header.Set(client.HeaderResponseEncryption, "fernet")
	}
	if get {
		return ""
	}
	if again {
		var b [64]byte
		nonce := client.AppendNonce(b[:0], now, rnd[client.NonceSuffixLen:2*client.NonceSuffixLen])
		p, err := client.AppendWithNonce((*c.buf)[:0], *c.plain, nonce)
		if err != nil {
			return CodeInvalidJSON
		}
		*c.buf, *c.plain = *c.plain, p
	}
	if c.token == nil {
		c.token = getBuf()
	}
	*c.token = sess.key.Encrypt((*c.token)[:0], *c.plain, now.Unix(), (*[16]byte)(rnd[2*client.NonceSuffixLen:]))
	req.SetBodyRaw(*c.token)
	return ""
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// resultOf returns the requests metric's result for a relayed status.
func resultOf(status int) string {
	switch {
	case status >= 500:
		return ResultMinerError
	case status >= 400:
		return ResultMinerRefused
	}
	return ResultOK
}

// relayRefusal answers with the miner's refusal of a key exchange, as the
// miner's own answer.
func (h *Handler) relayRefusal(ctx *fasthttp.RequestCtx, c *call, r *refusal) {
	resp := &ctx.Response
	resp.SetStatusCode(r.status)
	if len(r.contentType) > 0 {
		resp.Header.SetContentTypeBytes(r.contentType)
	}
	if len(r.retryAfter) > 0 {
		resp.Header.SetBytesV("Retry-After", r.retryAfter)
	}
	resp.SetBody(r.body)
	c.result = resultOf(r.status)
}
