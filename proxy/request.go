package proxy

import (
	"crypto/sha256"
	"encoding/hex"
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

// emptySHA256 is the hex SHA-256 of an empty body.
var emptySHA256 = func() []byte {
	s := sha256.Sum256(nil)
	return []byte(hex.EncodeToString(s[:]))
}()

// proxy applies route r to a request for an upstream path.
func (h *Handler) proxy(ctx *fasthttp.RequestCtx, r *route, out outbound, now, real time.Time) Code {
	switch r.Mode {
	case ModeDeny:
		return CodeNotFound
	case ModePublic:
		return h.forward(ctx, r, out, upstreamCall{body: ctx.Request.Body(), keepType: true})
	}
	var fh fiberHeaders
	readFiberHeaders(&ctx.Request, &fh)
	if fh.duplicate {
		return CodeDuplicateHeader
	}
	if len(fh.validator) == 0 || len(fh.miner) == 0 || len(fh.nonce) == 0 || len(fh.signature) == 0 {
		return CodeMissingHeader
	}
	if r.Mode == ModeSigned {
		return h.signed(ctx, r, &fh, out, now, real)
	}
	return h.encrypted(ctx, r, &fh, out, now, real)
}

// encrypted handles an encrypted-mode request: signed headers over the
// key uuid, a Fernet body under that key, fresh token and inner nonce. The
// header nonce and the inner nonce are recorded together, once both are
// known good: one operation (one round trip for a shared guard).
func (h *Handler) encrypted(ctx *fasthttp.RequestCtx, r *route, fh *fiberHeaders, out outbound, now, real time.Time) Code {
	if len(fh.uuid) == 0 {
		return CodeMissingHeader
	}
	if len(fh.uuid) > maxUUID {
		return CodeBadRequest
	}
	body := methodHasBody(out.method)
	if !body && len(ctx.Request.Body()) > 0 {
		// The signature does not cover a GET's body, and an app that
		// ignores it would read it as another request.
		return CodeBodyNotAllowed
	}
	var c caller
	var headerTS int64
	var code Code
	if body {
		// The header nonce is recorded with the body's, below.
		c, headerTS, code = h.verify(fh, now, fh.uuid)
		if code == "" {
			code = h.charge(ctx, limitRequest, c.id.pub, real)
		}
	} else {
		c, code = h.authenticate(ctx, fh, now, real, limitRequest, fh.uuid)
	}
	if code != "" {
		return code
	}
	entry, err := h.opts.Keys.Get(c.id.pub, fh.uuid, now)
	if err != nil && !errors.Is(err, keystore.ErrNotFound) {
		h.log.Warn("key store lookup failed", "err", err)
		return CodeStoreUnavailable
	}
	haveKey := err == nil
	encrypt := r.Response == ResponseEncrypted || (r.Response == ResponseAuto && fh.wantsEncryptedResponse)
	call := upstreamCall{caller: c, uuid: fh.uuid, encrypt: encrypt, keepType: true}
	if !body {
		if encrypt {
			if !haveKey {
				return CodeUnknownKey
			}
			call.key = entry.Key
		}
		call.body = ctx.Request.Body()
		return h.forward(ctx, r, out, call)
	}
	buf := getBuf()
	defer putBuf(buf)
	entry, plain, inner, innerTS, code := h.open(entry, err, ctx.Request.Body(), (*buf)[:0], c, fh.uuid, now)
	if code != "" {
		// The signature was good, so its nonce is used up even though the
		// body was not: record it, and call a replay a replay.
		if code != CodeStoreUnavailable {
			if err := h.opts.Nonces.Remember(nonce.Scope{Who: c.id.pub, Kind: nonce.KindHeader}, fh.nonce, headerTS, now.UnixNano()); err != nil {
				return rememberRefusal(ctx, err, false, now.UnixNano())
			}
		}
		return code
	}
	*buf = plain
	which, err := h.opts.Nonces.RememberPair(
		nonce.Record{Scope: nonce.Scope{Who: c.id.pub, Kind: nonce.KindHeader}, Nonce: fh.nonce, TS: headerTS},
		nonce.Record{Scope: nonce.Scope{Who: c.id.pub, Kind: nonce.KindBody}, Nonce: inner, TS: innerTS},
		now.UnixNano())
	if err != nil {
		return rememberRefusal(ctx, err, which == 1, now.UnixNano())
	}
	if encrypt {
		call.key = entry.Key
	}
	call.body, call.keepType, call.jsonObject = plain, false, true
	return h.forward(ctx, r, out, call)
}

// open decrypts a request body and enforces what Fiber's server does not:
// the token is no older than the nonce window, and its inner "nonce" is
// well-formed and inside the window. entry and lookupErr are the key
// store's answer; when the token does not open under a cached key (or none
// was cached), a store with a cache is asked once more past it, since the
// validator may have just exchanged a new key on another replica. It
// returns the entry used, the plaintext, and the inner nonce and its time.
func (h *Handler) open(entry *keystore.Entry, lookupErr error, token, dst []byte, c caller, uuid []byte, now time.Time) (*keystore.Entry, []byte, []byte, int64, Code) {
	var plain []byte
	var created int64
	err := lookupErr
	if err == nil {
		plain, created, err = entry.Key.Decrypt(dst, token)
	}
	if err != nil {
		// No key at all: the store already asked its backend on a miss.
		// A cached key that does not open the token: ask past the cache.
		fresh, ok := h.opts.Keys.(keyRefresher)
		if lookupErr != nil || !ok {
			return h.noKey(lookupErr)
		}
		e, ferr := fresh.Fresh(c.id.pub, uuid, now)
		switch {
		case errors.Is(ferr, keystore.ErrNotFound):
			return nil, nil, nil, 0, CodeUnknownKey
		case ferr != nil:
			h.log.Warn("key store lookup failed", "err", ferr)
			return nil, nil, nil, 0, CodeStoreUnavailable
		}
		entry = e
		if plain, created, err = entry.Key.Decrypt(dst, token); err != nil {
			return nil, nil, nil, 0, CodeTokenInvalid
		}
	}
	window := int64(h.opts.NonceWindow / time.Second)
	if err := fernet.CheckAge(created, now.Unix(), window, window); err != nil {
		if errors.Is(err, fernet.ErrTokenFromFuture) {
			return nil, nil, nil, 0, CodeTokenFuture
		}
		return nil, nil, nil, 0, CodeTokenExpired
	}
	inner, code := bodyNonce(plain)
	if code != "" {
		return nil, nil, nil, 0, code
	}
	ts, err := nonce.Parse(inner)
	if err != nil {
		return nil, nil, nil, 0, CodeBodyNonceInvalid
	}
	if err := nonce.CheckWindow(ts, now.UnixNano(), h.opts.NonceWindow); err != nil {
		return nil, nil, nil, 0, CodeBodyNonceInvalid
	}
	return entry, plain, inner, ts, ""
}

// noKey is open's answer when the token did not open and the store has no
// cache to look past: no key, or a key the token was not made with.
func (h *Handler) noKey(lookupErr error) (*keystore.Entry, []byte, []byte, int64, Code) {
	if lookupErr != nil {
		return nil, nil, nil, 0, CodeUnknownKey
	}
	return nil, nil, nil, 0, CodeTokenInvalid
}

// signed handles Fiber 2.x's light mode: the signature covers the SHA-256
// of the raw body; a GET (2.4) signs "{nonce}:{miner}" alone.
func (h *Handler) signed(ctx *fasthttp.RequestCtx, r *route, fh *fiberHeaders, out outbound, now, real time.Time) Code {
	body := ctx.Request.Body()
	var code Code
	var c caller
	if len(body) == 0 && !methodHasBody(out.method) {
		c, code = h.authenticate(ctx, fh, now, real, limitRequest, nil, emptySHA256)
	} else {
		sum := sha256.Sum256(body)
		var hexSum [64]byte
		hex.Encode(hexSum[:], sum[:])
		c, code = h.authenticate(ctx, fh, now, real, limitRequest, hexSum[:])
	}
	if code != "" {
		return code
	}
	return h.forward(ctx, r, out, upstreamCall{caller: c, body: body, keepType: true, jsonObject: len(body) > 0 && isJSONObject(body)})
}
