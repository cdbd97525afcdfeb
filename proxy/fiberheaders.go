package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// fiberHeaders are the Fiber headers of one request. The slices point into
// fasthttp's request buffer: valid only until the handler returns.
type fiberHeaders struct {
	validator []byte // validator-hotkey
	miner     []byte // miner-hotkey
	nonce     []byte
	signature []byte
	uuid      []byte // symmetric-key-uuid
	legacyKey []byte // hotkey (the earlier handshake's header)

	wantsEncryptedResponse bool // X-Fiber-Response-Encryption: fernet
	duplicate              bool // a Fiber header appeared twice
}

var (
	hValidator  = []byte("validator-hotkey")
	hMiner      = []byte("miner-hotkey")
	hNonce      = []byte("nonce")
	hSignature  = []byte("signature")
	hUUID       = []byte("symmetric-key-uuid")
	hLegacyKey  = []byte("hotkey")
	hRespEnc    = []byte("x-fiber-response-encryption")
	fernetValue = []byte("fernet")
)

// readFiberHeaders collects the Fiber headers in one pass over the request
// headers, matching names in any case and noting duplicates.
func readFiberHeaders(req *fasthttp.Request, h *fiberHeaders) {
	for k, v := range req.Header.All() {
		var dst *[]byte
		switch len(k) {
		case len(hValidator): // the names have distinct lengths
			if bytes.EqualFold(k, hValidator) {
				dst = &h.validator
			}
		case len(hMiner):
			if bytes.EqualFold(k, hMiner) {
				dst = &h.miner
			}
		case len(hNonce):
			if bytes.EqualFold(k, hNonce) {
				dst = &h.nonce
			}
		case len(hSignature):
			if bytes.EqualFold(k, hSignature) {
				dst = &h.signature
			}
		case len(hUUID):
			if bytes.EqualFold(k, hUUID) {
				dst = &h.uuid
			}
		case len(hLegacyKey):
			if bytes.EqualFold(k, hLegacyKey) {
				dst = &h.legacyKey
			}
		case len(hRespEnc):
			if bytes.EqualFold(k, hRespEnc) && bytes.EqualFold(bytes.TrimSpace(v), fernetValue) {
				h.wantsEncryptedResponse = true
			}
		}
		if dst == nil {
			continue
		}
		if *dst != nil {
			h.duplicate = true
		}
		*dst = v
	}
}
