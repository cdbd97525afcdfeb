package proxy

import (
	"bytes"
	"errors"
	"time"

	"github.com/fibergate/fibergate/crypto/nonce"
	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/crypto/ss58"
)

// This file is where a signed request is checked: check decides who the
// caller is, or why the request is refused; record is the one place a
// nonce is recorded. Every kind of signed request (a key exchange, an
// encrypted or signed-mode request, a GET) goes through both.

// clock holds the two times a request is handled at.
type clock struct {
	// protocol is the time the Fiber protocol is checked against: nonces,
	// tokens, key lifetimes (Options.Now; the wall clock unless a test
	// sets it).
	protocol time.Time
	// wall is when the server read the request, for durations and rate
	// limits.
	wall time.Time
}

// caller is a request's verified validator.
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

// check runs Fiber's checks on a signed request's headers, in Fiber's
// order: the validator is listed and staked (403), the nonce is
// well-formed and inside the window (401), miner-hotkey is this miner
// (401), the signature verifies over "{nonce}:{miner-hotkey}" followed by
// ":" + third for one of thirds (a nil third means no third field) (401).
// Then it charges the validator's rate limit of kind: before any nonce is
// recorded, so the very request refused with 429 is served when sent again
// after Retry-After.
//
// It returns the caller and the header nonce to record, or a refusal. It
// records nothing (see record), so requests that fail a check cannot fill
// the replay guard.
func (h *Handler) check(fh *fiberHeaders, clk clock, kind limitKind, thirds ...[]byte) (caller, nonce.Record, refusal) {
	id, code := h.ids.lookup(fh.validator, h.listed)
	if code != "" {
		return caller{}, nonce.Record{}, refuse(code)
	}
	stake, code := h.stakeOf(id.pub)
	if code != "" {
		return caller{}, nonce.Record{}, refuse(code)
	}
	ts, code := h.headerNonce(fh.nonce, clk)
	if code != "" {
		return caller{}, nonce.Record{}, refuse(code)
	}
	if !h.isMe(fh.miner) {
		return caller{}, nonce.Record{}, refuse(CodeWrongMiner)
	}
	var sig [64]byte
	if code := parseSignature(fh.signature, &sig); code != "" {
		return caller{}, nonce.Record{}, refuse(code)
	}
	if !verifyAny(id, fh, &sig, thirds) {
		return caller{}, nonce.Record{}, refuse(CodeSignatureInvalid)
	}
	if r := h.charge(kind, id.pub, clk); r.refused() {
		return caller{}, nonce.Record{}, r
	}
	rec := nonce.Record{Scope: nonce.Scope{Who: id.pub, Kind: nonce.KindHeader}, Nonce: fh.nonce, TS: ts}
	return caller{id: id, stake: stake}, rec, refusal{}
}

// verifyAny reports whether sig is id's signature over the headers'
// message with one of thirds.
func verifyAny(id *identity, fh *fiberHeaders, sig *[64]byte, thirds [][]byte) bool {
	var stack [512]byte
	for _, third := range thirds {
		msg := append(stack[:0], fh.nonce...)
		msg = append(msg, ':')
		msg = append(msg, fh.miner...)
		if third != nil {
			msg = append(msg, ':')
			msg = append(msg, third...)
		}
		if id.verifier.Verify(msg, sig) {
			return true
		}
	}
	return false
}

// stakeOf returns a listed validator's stake, or the code for one that may
// not be served: not listed, or staked below the minimum.
func (h *Handler) stakeOf(pub [32]byte) (float64, Code) {
	stake, listed, eligible := h.opts.Stakes.Stake(pub)
	switch {
	case !listed:
		return 0, CodeUnknownValidator
	case !eligible:
		return 0, CodeLowStake
	}
	return stake, ""
}

// charge applies a verified validator's rate limit of the given kind.
func (h *Handler) charge(kind limitKind, pub [32]byte, clk clock) refusal {
	if kind == limitHandshake {
		return h.limits.handshake(pub, clk.wall)
	}
	return h.limits.validator(pub, clk.wall)
}

// headerNonce parses a header nonce and checks its time against the
// window.
func (h *Handler) headerNonce(n []byte, clk clock) (int64, Code) {
	ts, err := nonce.Parse(n)
	if err != nil {
		return 0, CodeNonceMalformed
	}
	if err := nonce.CheckWindow(ts, clk.protocol.UnixNano(), h.opts.NonceWindow); err != nil {
		return 0, nonceCode(err, false)
	}
	return ts, ""
}

// record records a verified request's nonces, all or nothing: the header
// nonce alone, or with the encrypted body's inner nonce, in one operation
// (one round trip for a shared guard). It is the one place a nonce is
// recorded.
func (h *Handler) record(clk clock, header nonce.Record, body ...nonce.Record) refusal {
	now := clk.protocol.UnixNano()
	if len(body) == 0 {
		if err := h.opts.Nonces.Remember(header.Scope, header.Nonce, header.TS, now); err != nil {
			return guardRefusal(err, false, now)
		}
		return refusal{}
	}
	which, err := h.opts.Nonces.RememberPair(header, body[0], now)
	if err != nil {
		return guardRefusal(err, which == 1, now)
	}
	return refusal{}
}

// nonceCode maps the nonce package's errors to error codes; body says the
// nonce is the encrypted body's inner one.
func nonceCode(err error, body bool) Code {
	switch {
	case errors.Is(err, nonce.ErrReplayed):
		if body {
			return CodeBodyNonceReplayed
		}
		return CodeNonceReplayed
	case errors.Is(err, nonce.ErrFull):
		return CodeNonceCapacity
	case errors.Is(err, nonce.ErrUnavailable):
		return CodeStoreUnavailable
	case errors.Is(err, nonce.ErrUnverifiable):
		return CodeNonceUnverifiable
	case body:
		return CodeBodyNonceInvalid
	case errors.Is(err, nonce.ErrTooOld):
		return CodeNonceExpired
	case errors.Is(err, nonce.ErrTooNew):
		return CodeNonceFuture
	}
	return CodeNonceMalformed
}

// guardRefusal is the refusal for an error of the replay guard: a nonce
// stamped before the guard's floor also says, by its wait, when a freshly
// signed request will be accepted. now is unix ns.
func guardRefusal(err error, body bool, now int64) refusal {
	r := refuse(nonceCode(err, body))
	var ue nonce.UnverifiableError
	if errors.As(err, &ue) {
		r.wait = time.Duration(ue.Floor-now) + time.Nanosecond
	}
	return r
}

// parseSignature wraps sr25519.ParseSignature for the proxy's error codes.
func parseSignature(s []byte, sig *[64]byte) Code {
	v, err := sr25519.ParseSignature(s)
	if err != nil {
		return CodeSignatureFormat
	}
	*sig = v
	return ""
}

// listed reports whether pub is in the validator list.
func (h *Handler) listed(pub [32]byte) bool {
	_, ok, _ := h.opts.Stakes.Stake(pub)
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
