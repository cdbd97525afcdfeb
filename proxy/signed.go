package proxy

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/valyala/fasthttp"
)

// emptySHA256 is the hex SHA-256 of an empty body.
var emptySHA256 = func() []byte {
	s := sha256.Sum256(nil)
	return []byte(hex.EncodeToString(s[:]))
}()

// serveSigned handles Fiber 2.x's light mode: the signature covers the
// SHA-256 of the raw body, which is forwarded as it is; a GET (2.4) signs
// "{nonce}:{miner}" alone.
func (h *Handler) serveSigned(ctx *fasthttp.RequestCtx, rt *route, fh *fiberHeaders, out outbound, clk clock) refusal {
	body := ctx.Request.Body()
	var thirds [][]byte
	var hexSum [64]byte
	if len(body) == 0 && !methodHasBody(out.method) {
		thirds = [][]byte{nil, emptySHA256}
	} else {
		sum := sha256.Sum256(body)
		hex.Encode(hexSum[:], sum[:])
		thirds = [][]byte{hexSum[:]}
	}
	c, rec, r := h.check(fh, clk, limitRequest, thirds...)
	if r.refused() {
		return r
	}
	if r := h.record(clk, rec); r.refused() {
		return r
	}
	return refuse(h.forward(ctx, rt, out, upstreamCall{caller: c, body: body, keepType: true, jsonObject: len(body) > 0 && isJSONObject(body)}))
}
