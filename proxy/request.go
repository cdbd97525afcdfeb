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
func (h *Handler) proxy(ctx *fasthttp.RequestCtx, r *route, now, real time.Time) Code {
	switch r.Mode {
	case ModeDeny:
		return CodeNotFound
	case ModePublic:
		return h.forward(ctx, r, upstreamCall{body: ctx.Request.Body(), keepType: true})
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
		return h.signed(ctx, r, &fh, now, real)
	}
	return h.encrypted(ctx, r, &fh, now, real)
}

// hasBody reports whether the method carries a body to decrypt.
func hasBody(ctx *fasthttp.RequestCtx) bool {
	return !ctx.IsGet() && !ctx.IsHead() && !ctx.IsOptions() && !ctx.IsDelete()
}

// encrypted handles an encrypted-mode request: signed headers over the
// key uuid, a Fernet body under that key, fresh token and inner nonce.
func (h *Handler) encrypted(ctx *fasthttp.RequestCtx, r *route, fh *fiberHeaders, now, real time.Time) Code {
	if len(fh.uuid) == 0 {
		return CodeMissingHeader
	}
	if len(fh.uuid) > maxUUID {
		return CodeBadRequest
	}
	c, code := h.authenticate(fh, now, fh.uuid)
	if code != "" {
		return code
	}
	if code := h.limits.validator(ctx, c.id.pub, real); code != "" {
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
	if encrypt {
		if !haveKey {
			return CodeUnknownKey
		}
		call.key = entry.Key
	}
	if !hasBody(ctx) {
		call.body = ctx.Request.Body()
		return h.forward(ctx, r, call)
	}
	if !haveKey {
		return CodeUnknownKey
	}
	buf := getBuf()
	defer putBuf(buf)
	plain, code := h.open(entry, ctx.Request.Body(), (*buf)[:0], c, now)
	if code != "" {
		return code
	}
	*buf = plain
	call.body = plain
	call.keepType = false
	return h.forward(ctx, r, call)
}

// open decrypts a request body under the entry's key and enforces what
// Fiber's server does not: the token is no older than the nonce window, and
// its inner "nonce" is well-formed and has not been seen.
func (h *Handler) open(entry *keystore.Entry, token, dst []byte, c caller, now time.Time) ([]byte, Code) {
	plain, created, err := entry.Key.Decrypt(dst, token)
	if err != nil {
		return nil, CodeTokenInvalid
	}
	window := int64(h.opts.NonceWindow / time.Second)
	if err := fernet.CheckAge(created, now.Unix(), window, window); err != nil {
		if errors.Is(err, fernet.ErrTokenFromFuture) {
			return nil, CodeTokenFuture
		}
		return nil, CodeTokenExpired
	}
	inner, code := bodyNonce(plain)
	if code != "" {
		return nil, code
	}
	ts, err := nonce.Parse(inner)
	if err != nil {
		return nil, CodeBodyNonceInvalid
	}
	if err := nonce.CheckWindow(ts, now.UnixNano(), h.opts.NonceWindow); err != nil {
		return nil, CodeBodyNonceInvalid
	}
	if err := h.opts.Nonces.Remember(nonce.Scope{Who: c.id.pub, Kind: nonce.KindBody}, inner, ts, now.UnixNano()); err != nil {
		return nil, nonceCode(err, true)
	}
	return plain, ""
}

// signed handles Fiber 2.x's light mode: the signature covers the SHA-256
// of the raw body; a GET (2.4) signs "{nonce}:{miner}" alone.
func (h *Handler) signed(ctx *fasthttp.RequestCtx, r *route, fh *fiberHeaders, now, real time.Time) Code {
	body := ctx.Request.Body()
	var code Code
	var c caller
	if len(body) == 0 && !hasBody(ctx) {
		c, code = h.authenticate(fh, now, nil, emptySHA256)
	} else {
		sum := sha256.Sum256(body)
		var hexSum [64]byte
		hex.Encode(hexSum[:], sum[:])
		c, code = h.authenticate(fh, now, hexSum[:])
	}
	if code != "" {
		return code
	}
	if code := h.limits.validator(ctx, c.id.pub, real); code != "" {
		return code
	}
	return h.forward(ctx, r, upstreamCall{caller: c, body: body, keepType: true})
}
