package proxy

import (
	"errors"
	"time"

	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/crypto/nonce"
	"github.com/fibergate/fibergate/keystore"
	"github.com/valyala/fasthttp"
)

// maxUUID caps symmetric-key-uuid: Fiber's client sends 64 hex digits, and
// the cap bounds what a validator can make the key store hold.
const maxUUID = 256

// serveEncrypted handles an encrypted-mode request: signed headers over
// the key uuid, and, on a method that carries one, a Fernet body under
// that key holding a JSON object with a fresh inner nonce. The header
// nonce and the inner nonce are recorded together, once both are known
// good; a GET-like request's header nonce is recorded once it is checked.
func (h *Handler) serveEncrypted(ctx *fasthttp.RequestCtx, rt *route, fh *fiberHeaders, out outbound, clk clock) refusal {
	if len(fh.uuid) == 0 {
		return refuse(CodeMissingHeader)
	}
	if len(fh.uuid) > maxUUID {
		return refuse(CodeBadRequest)
	}
	withBody := methodHasBody(out.method)
	if !withBody && len(ctx.Request.Body()) > 0 {
		// The signature does not cover a GET's body, and an app that
		// ignores it would read it as another request.
		return refuse(CodeBodyNotAllowed)
	}
	c, header, r := h.check(fh, clk, limitRequest, fh.uuid)
	if r.refused() {
		return r
	}
	if !withBody {
		if r := h.record(clk, header); r.refused() {
			return r
		}
	}
	entry, err := h.opts.Keys.Get(c.id.pub, fh.uuid, clk.protocol)
	if err != nil && !errors.Is(err, keystore.ErrNotFound) {
		h.log.Warn("key store lookup failed", "err", err)
		return refuse(CodeStoreUnavailable)
	}
	encrypt := rt.Response == ResponseEncrypted || (rt.Response == ResponseAuto && fh.wantsEncryptedResponse)
	call := upstreamCall{caller: c, uuid: fh.uuid, encrypt: encrypt, keepType: true}
	if !withBody {
		if encrypt {
			if err != nil {
				return refuse(CodeUnknownKey)
			}
			call.key = entry.Key
		}
		call.body = ctx.Request.Body()
		return refuse(h.forward(ctx, rt, out, call))
	}
	buf := getBuf()
	defer putBuf(buf)
	body, code := h.decryptBody(entry, err, ctx.Request.Body(), (*buf)[:0], c, fh.uuid, clk)
	if code != "" {
		// The signature was good, so its nonce is used up even though the
		// body was not: record it, and call a replay a replay.
		if code != CodeStoreUnavailable {
			if r := h.record(clk, header); r.refused() {
				return r
			}
		}
		return refuse(code)
	}
	*buf = body.plain
	if r := h.record(clk, header, body.nonce); r.refused() {
		return r
	}
	if encrypt {
		call.key = body.entry.Key
	}
	call.body, call.keepType, call.jsonObject = body.plain, false, true
	return refuse(h.forward(ctx, rt, out, call))
}

// decryptedBody is an encrypted request's body once opened: the key entry
// it opened under, the plaintext (a JSON object), and its inner nonce.
type decryptedBody struct {
	entry *keystore.Entry
	plain []byte
	nonce nonce.Record
}

// decryptBody opens an encrypted request's body into dst and enforces what
// Fiber's server does not: the token is no older than the nonce window,
// and its inner "nonce" is well-formed and inside the window. entry and
// lookupErr are the key store's answer; when the token does not open under
// a cached key, a store with a cache is asked once more past it, since the
// validator may have just exchanged a new key on another replica.
func (h *Handler) decryptBody(entry *keystore.Entry, lookupErr error, token, dst []byte, c caller, uuid []byte, clk clock) (decryptedBody, Code) {
	var plain []byte
	var created int64
	err := lookupErr
	if err == nil {
		plain, created, err = entry.Key.Decrypt(dst, token)
	}
	if err != nil {
		// No key at all: the store already asked its backend on a miss.
		if lookupErr != nil {
			return decryptedBody{}, CodeUnknownKey
		}
		// A cached key that does not open the token: ask past the cache.
		fresh, ok := h.opts.Keys.(keyRefresher)
		if !ok {
			return decryptedBody{}, CodeTokenInvalid
		}
		e, ferr := fresh.Fresh(c.id.pub, uuid, clk.protocol)
		switch {
		case errors.Is(ferr, keystore.ErrNotFound):
			return decryptedBody{}, CodeUnknownKey
		case ferr != nil:
			h.log.Warn("key store lookup failed", "err", ferr)
			return decryptedBody{}, CodeStoreUnavailable
		}
		entry = e
		if plain, created, err = entry.Key.Decrypt(dst, token); err != nil {
			return decryptedBody{}, CodeTokenInvalid
		}
	}
	window := int64(h.opts.NonceWindow / time.Second)
	if err := fernet.CheckAge(created, clk.protocol.Unix(), window, window); err != nil {
		if errors.Is(err, fernet.ErrTokenFromFuture) {
			return decryptedBody{}, CodeTokenFuture
		}
		return decryptedBody{}, CodeTokenExpired
	}
	inner, code := bodyNonce(plain)
	if code != "" {
		return decryptedBody{}, code
	}
	ts, err := nonce.Parse(inner)
	if err != nil {
		return decryptedBody{}, CodeBodyNonceInvalid
	}
	if err := nonce.CheckWindow(ts, clk.protocol.UnixNano(), h.opts.NonceWindow); err != nil {
		return decryptedBody{}, CodeBodyNonceInvalid
	}
	return decryptedBody{
		entry: entry,
		plain: plain,
		nonce: nonce.Record{Scope: nonce.Scope{Who: c.id.pub, Kind: nonce.KindBody}, Nonce: inner, TS: ts},
	}, ""
}
