package proxy

import (
	"bytes"
	"time"

	"github.com/fibergate/fibergate/crypto/nonce"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/valyala/fasthttp"
)

// caller is a request's authenticated validator.
type caller struct {
	id    *identity
	stake float64
}

// limitKind names the rate limit a verified request is charged.
type limitKind uint8

const (
	limitRequest   limitKind = iota // rate_limits.per_validator
	limitHandshake                  // rate_limits.handshakes_per_validator
)

// charge applies a verified validator's rate limit of the given kind.
func (h *Handler) charge(ctx *fasthttp.RequestCtx, kind limitKind, pub [32]byte, real time.Time) Code {
	if kind == limitHandshake {
		return h.limits.handshake(ctx, pub, real)
	}
	return h.limits.validator(ctx, pub, real)
}

// authenticate runs verify, charges the validator's rate limit, and then
// records the header nonce, for requests with no inner nonce to record
// alongside it. The limit comes first: a request refused with 429 has not
// used up its nonce, so the very same request retried after Retry-After
// is served.
func (h *Handler) authenticate(ctx *fasthttp.RequestCtx, fh *fiberHeaders, now, real time.Time, kind limitKind, thirds ...[]byte) (caller, Code) {
	c, ts, code := h.verify(fh, now, thirds...)
	if code != "" {
		return caller{}, code
	}
	if code := h.charge(ctx, kind, c.id.pub, real); code != "" {
		return caller{}, code
	}
	if err := h.opts.Nonces.Remember(nonce.Scope{Who: c.id.pub, Kind: nonce.KindHeader}, fh.nonce, ts, now.UnixNano()); err != nil {
		return caller{}, rememberRefusal(ctx, err, false, now.UnixNano())
	}
	return c, ""
}

// verify runs Fiber's checks on signed headers, in Fiber's order: the
// validator is known and staked (403), the nonce is well-formed and inside
// the window (401), miner-hotkey is this miner (401), the signature
// verifies over "{nonce}:{miner-hotkey}" followed by ":" + third for one of
// thirds (a nil third means no third field) (401). It records nothing: the
// caller records the nonce (with authenticate, or together with the body's
// inner nonce), so unsigned requests cannot fill the replay guard. It
// returns the nonce's time.
func (h *Handler) verify(fh *fiberHeaders, now time.Time, thirds ...[]byte) (caller, int64, Code) {
	id, code := h.ids.lookup(fh.validator, h.known)
	if code != "" {
		return caller{}, 0, code
	}
	stake, ok := h.opts.Validators.Stake(id.pub)
	if !ok {
		return caller{}, 0, CodeUnknownValidator
	}
	if !(stake >= h.opts.MinStake) {
		return caller{}, 0, CodeLowStake
	}
	ts, code := h.checkNonce(fh.nonce, now)
	if code != "" {
		return caller{}, 0, code
	}
	if !h.isMe(fh.miner) {
		return caller{}, 0, CodeWrongMiner
	}
	var sig [64]byte
	if code := parseSignature(fh.signature, &sig); code != "" {
		return caller{}, 0, code
	}
	var stack [512]byte
	for _, third := range thirds {
		msg := append(stack[:0], fh.nonce...)
		msg = append(msg, ':')
		msg = append(msg, fh.miner...)
		if third != nil {
			msg = append(msg, ':')
			msg = append(msg, third...)
		}
		if id.verifier.Verify(msg, &sig) {
			return caller{id: id, stake: stake}, ts, ""
		}
	}
	return caller{}, 0, CodeSignatureInvalid
}

// known reports whether pub is in the validator list.
func (h *Handler) known(pub [32]byte) bool {
	_, ok := h.opts.Validators.Stake(pub)
	return ok
}

// isMe reports whether an SS58 address names this miner. The address is
// compared as a decoded key: one key has several valid spellings.
func (h *Handler) isMe(addr []byte) bool {
	if bytes.Equal(addr, h.minerSS58) {
		return true
	}
	pub, _, err := ss58.DecodeBytes(addr)
	return err == nil && pub == h.opts.MinerHotkey
}
