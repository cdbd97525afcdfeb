package proxy

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/keystore"
	"github.com/valyala/fasthttp"
)

// exchangeOK is Fiber's success body for POST /exchange-symmetric-key.
var exchangeOK = []byte(`{"status":"Symmetric key exchanged successfully"}`)

// exchange handles POST /exchange-symmetric-key in Fiber 2.x's header form,
// or in the earlier form that carries everything in the body.
func (h *Handler) exchange(ctx *fasthttp.RequestCtx, clk clock) refusal {
	if !ctx.IsPost() {
		return refuse(CodeMethodNotAllowed)
	}
	var fh fiberHeaders
	readFiberHeaders(&ctx.Request, &fh)
	if fh.duplicate {
		return refuse(CodeDuplicateHeader)
	}
	if len(fh.validator) == 0 {
		// The earlier form: named by the hotkey header, or, as its first
		// client sent it, by the body alone.
		return h.legacyExchange(ctx, &fh, clk)
	}
	if len(fh.miner) == 0 || len(fh.nonce) == 0 || len(fh.signature) == 0 || len(fh.uuid) == 0 {
		return refuse(CodeMissingHeader)
	}
	if len(fh.uuid) > maxUUID {
		return refuse(CodeBadRequest)
	}
	c, header, r := h.check(&fh, clk, limitHandshake, fh.uuid)
	if r.refused() {
		return r
	}
	if r := h.record(clk, header); r.refused() {
		return r
	}
	var body struct {
		EncryptedSymmetricKey *string `json:"encrypted_symmetric_key"`
	}
	if err := json.Unmarshal(ctx.Request.Body(), &body); err != nil || body.EncryptedSymmetricKey == nil {
		return refuse(CodeInvalidBody)
	}
	return refuse(h.storeKey(ctx, c, string(fh.uuid), *body.EncryptedSymmetricKey, clk.protocol))
}

// storeKey decrypts a validator's RSA-wrapped key and stores it under
// (validator, uuid), replacing any key stored there.
func (h *Handler) storeKey(ctx *fasthttp.RequestCtx, c caller, uuid, wrapped string, now time.Time) Code {
	ct, err := base64.StdEncoding.Strict().DecodeString(wrapped)
	if err != nil {
		return CodeInvalidBase64
	}
	raw, err := rsakey.DecryptSymmetricKey(h.opts.RSAKey, ct)
	if err != nil {
		return CodeKeyDecrypt
	}
	key, err := fernetKey(raw)
	if err != nil {
		return CodeKeyDecrypt
	}
	e := &keystore.Entry{
		Validator: c.id.pub,
		UUID:      uuid,
		Key:       key,
		Created:   now,
		Expires:   now.Add(h.opts.KeyTTL),
	}
	if err := h.opts.Keys.Put(e, now); err != nil {
		h.log.Error("storing a symmetric key", "err", err)
		if errors.Is(err, keystore.ErrUnavailable) {
			return CodeStoreUnavailable
		}
		return CodeInternal
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(exchangeOK)
	return ""
}

// fernetKey builds the Fernet key from the 32 bytes the validator sent.
func fernetKey(raw [32]byte) (*fernet.Key, error) { return fernet.NewKey(raw[:]) }
