package egress

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/keystore"
	"github.com/valyala/fasthttp"
)

// Triggers of a key exchange: the values of the handshakes metric's
// trigger label.
const (
	TriggerNew        = "new"         // no key yet, or it expired
	TriggerRenew      = "renew"       // the key in use neared its end
	TriggerUnknownKey = "unknown_key" // the miner did not know the key
)

// Results of a key exchange: the values of the handshakes metric's result
// label.
const (
	HandshakeOK          = "ok"
	HandshakeRefused     = "refused"     // the miner answered with an HTTP refusal
	HandshakeFailed      = "failed"      // no usable answer
	HandshakeUnreachable = "unreachable" // no connection
	HandshakeTimeout     = "timeout"     // timeouts.handshake ran out
)

// Triggers and HandshakeResults list the label values, for metrics.
func Triggers() []string { return []string{TriggerNew, TriggerRenew, TriggerUnknownKey} }

// HandshakeResults lists the handshake result label values.
func HandshakeResults() []string {
	return []string{HandshakeOK, HandshakeRefused, HandshakeFailed, HandshakeUnreachable, HandshakeTimeout}
}

// maxHandshakeAnswer bounds what is read of an answer during an exchange.
const maxHandshakeAnswer = 64 << 10

// renewRetry is how long after a failed renewal the next is tried; the
// old key serves meanwhile.
const renewRetry = time.Minute

var closedCh = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// keyFor returns the key to send under to m: the current one, or, when
// there is none, it has expired or it is stale (the miner said it did not
// know it), a new one from an exchange shared with every other request
// that needs it. It waits for the exchange until deadline. A key near its
// end starts a renewal in the background and is used meanwhile. A miner
// that refused the exchange with an HTTP answer yields that answer.
func (h *Handler) keyFor(m *minerState, up *upstream, stale *session, deadline time.Time) (*session, *refusal, Code) {
	now := h.opts.Now()
	if s := m.sess.Load(); s != nil && s != stale && now.Before(s.expires) {
		if !now.Before(s.renewAt) {
			h.renew(m, up, s, now)
		}
		return s, nil, ""
	}
	trigger := TriggerNew
	if stale != nil {
		trigger = TriggerUnknownKey
	}
	c := h.startExchange(m, up, trigger, stale, now)
	select {
	case <-c.done:
	default:
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-c.done:
			t.Stop()
		case <-t.C:
			return nil, nil, CodeMinerTimeout
		}
	}
	return c.sess, c.refusal, c.code
}

// renew starts a renewal of s, once, unless one failed less than
// renewRetry ago.
func (h *Handler) renew(m *minerState, up *upstream, s *session, now time.Time) {
	if r := s.retryAt.Load(); r != 0 && now.UnixNano() < r {
		return
	}
	if !s.renewing.CompareAndSwap(false, true) {
		return
	}
	c := h.startExchange(m, up, TriggerRenew, nil, now)
	go func() {
		<-c.done
		if c.sess == nil {
			s.retryAt.Store(h.opts.Now().Add(renewRetry).UnixNano())
			s.renewing.Store(false)
		}
	}()
}

// startExchange returns the exchange under way for m, or starts one. For
// a new or unknown-key exchange, a key that arrived meanwhile (other than
// stale) is taken instead.
func (h *Handler) startExchange(m *minerState, up *upstream, trigger string, stale *session, now time.Time) *exchange {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.call != nil {
		return m.call
	}
	if trigger != TriggerRenew {
		if s := m.sess.Load(); s != nil && s != stale && now.Before(s.expires) {
			return &exchange{done: closedCh, sess: s}
		}
	}
	c := &exchange{done: make(chan struct{})}
	m.call = c
	go h.runExchange(m, up, c, trigger)
	return c
}

// runExchange performs c and publishes its result. It belongs to no
// request: a caller that gives up waiting does not cut it short.
func (h *Handler) runExchange(m *minerState, up *upstream, c *exchange, trigger string) {
	start := time.Now()
	result := HandshakeFailed
	defer func() {
		if v := recover(); v != nil {
			h.m.Panic()
			h.log.Error("key exchange panic", "panic", fmt.Sprint(v))
			c.sess, c.refusal, c.code = nil, nil, CodeInternal
		}
		h.m.Handshake(result, trigger, time.Since(start))
		m.mu.Lock()
		m.call = nil
		m.mu.Unlock()
		close(c.done)
	}()
	s, ref, err := h.exchangeKey(m, up, start.Add(h.opts.Timeouts.Handshake))
	switch {
	case s != nil:
		result = HandshakeOK
		m.sess.Store(s)
		m.answered()
		h.recordKey(m, s)
		c.sess = s
	case ref != nil:
		result = HandshakeRefused
		m.answered()
		c.refusal = ref
		h.log.Info("miner refused the key exchange", "miner", string(m.ss58), "status", ref.status, "trigger", trigger)
	default:
		c.code = CodeHandshakeFailed
		if err != nil {
			switch transportCode(err) {
			case CodeMinerUnreachable:
				result, c.code = HandshakeUnreachable, CodeMinerUnreachable
			case CodeMinerTimeout:
				result, c.code = HandshakeTimeout, CodeMinerTimeout
			}
		}
		if m.failed(h.opts.Backoff, h.opts.Now()) {
			h.m.Backoff()
		}
		h.log.Warn("key exchange failed", "miner", string(m.ss58), "addr", up.addr, "trigger", trigger, "result", result, "err", err)
	}
}

// answerError is exchangeKey's error for an answer that holds no usable
// key.
type answerError string

func (e answerError) Error() string { return string(e) }

// exchangeKey performs Fiber's exchange with the miner as Fiber's client
// does: GET /public-encryption-key, then POST /exchange-symmetric-key with
// a fresh 32-byte key wrapped for the miner's RSA key, under a fresh uuid
// of 64 hex digits, with the five signed headers. It returns the session,
// or the miner's HTTP refusal, or why neither came.
func (h *Handler) exchangeKey(m *minerState, up *upstream, deadline time.Time) (*session, *refusal, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)

	h.prepareOwn(req, up, fasthttp.MethodGet, client.PublicKeyPath)
	if err := up.hc.DoDeadline(req, resp, deadline); err != nil {
		return nil, nil, err
	}
	body, err := readAll(resp, maxHandshakeAnswer)
	if err != nil {
		return nil, nil, err
	}
	if ref, err := h.refusalOf(resp, body); ref != nil || err != nil {
		return nil, ref, err
	}
	pub, err := client.ParsePublicKey(body)
	if err != nil {
		return nil, nil, answerError(err.Error())
	}

	var rnd [32 + 32 + client.NonceSuffixLen]byte
	if _, err := io.ReadFull(h.rand(), rnd[:]); err != nil {
		return nil, nil, fmt.Errorf("egress: reading random bytes: %w", err)
	}
	raw := [32]byte(rnd[:32])
	key, err := fernet.NewKey(raw[:])
	if err != nil {
		return nil, nil, err
	}
	payload, err := client.ExchangeBody(pub, raw, h.rand())
	clear(raw[:])
	if err != nil {
		return nil, nil, answerError(err.Error())
	}
	uuid := hex.AppendEncode(make([]byte, 0, 64), rnd[32:64])
	now := h.opts.Now()
	h.prepareOwn(req, up, fasthttp.MethodPost, client.ExchangePath)
	if err := h.signHeaders(req, m, now, rnd[64:], uuid); err != nil {
		return nil, nil, err
	}
	req.Header.Set(client.HeaderKeyUUID, string(uuid))
	req.Header.SetContentType("application/json")
	req.SetBodyRaw(payload)
	if err := up.hc.DoDeadline(req, resp, deadline); err != nil {
		return nil, nil, err
	}
	body, err = readAll(resp, maxHandshakeAnswer)
	if err != nil {
		return nil, nil, err
	}
	if ref, err := h.refusalOf(resp, body); ref != nil || err != nil {
		return nil, ref, err
	}
	return &session{
		key:     key,
		uuid:    uuid,
		created: now,
		renewAt: now.Add(h.opts.KeyTTL - h.opts.RenewBefore),
		expires: now.Add(h.opts.KeyTTL),
	}, nil, nil
}

// refusalOf returns, for an answer that is not a success, the refusal to
// relay (a 4xx or 5xx: status, type, Retry-After and body, copied as resp
// is released), or an error for any other status (no usable answer). It
// returns nil, nil for a 2xx.
func (h *Handler) refusalOf(resp *fasthttp.Response, body []byte) (*refusal, error) {
	st := resp.StatusCode()
	switch {
	case st >= 200 && st <= 299:
		return nil, nil
	case st < 400 || st > 599:
		return nil, answerError("the key exchange got status " + strconv.Itoa(st))
	}
	return &refusal{
		status:      resp.StatusCode(),
		contentType: append([]byte(nil), resp.Header.ContentType()...),
		retryAfter:  append([]byte(nil), resp.Header.Peek("Retry-After")...),
		body:        append([]byte(nil), body...),
	}, nil
}

// prepareOwn resets req for a request of egress's own to the miner.
func (h *Handler) prepareOwn(req *fasthttp.Request, up *upstream, method, path string) {
	req.Reset()
	req.Header.DisableNormalizing()
	req.Header.SetMethod(method)
	h.setURI(req, up, []byte(path), nil)
}

// recordKey notes a new key in the key record (for the snapshot).
func (h *Handler) recordKey(m *minerState, s *session) {
	if h.opts.Keys == nil {
		return
	}
	e := &keystore.Entry{Validator: m.pub, UUID: string(s.uuid), Key: s.key, Created: s.created, Expires: s.expires}
	if err := h.opts.Keys.Put(e, h.opts.Now()); err != nil {
		h.log.Warn("recording a key", "err", err)
	}
}

// rand returns the random source.
func (h *Handler) rand() io.Reader {
	if h.opts.Rand != nil {
		return h.opts.Rand
	}
	return rand.Reader
}

// fill fills b with random bytes. Without Options.Rand it calls
// crypto/rand.Read, which keeps b off the heap (a Read through the
// io.Reader interface would move it there, an allocation per request).
func (h *Handler) fill(b []byte) error {
	if h.opts.Rand == nil {
		rand.Read(b)
		return nil
	}
	// Through a copy, so b itself never escapes (tests give a Rand).
	bb := make([]byte, len(b))
	_, err := io.ReadFull(h.opts.Rand, bb)
	copy(b, bb)
	return err
}
