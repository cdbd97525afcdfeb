package proxy

import (
	"bytes"
	"encoding/json"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/fibergate/fibergate/crypto/nonce"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/valyala/fasthttp"
)

// maxLegacyNonce caps the earlier handshake's nonce, which has no set form.
const maxLegacyNonce = 256

// legacyExchange handles the handshake of Fiber's original design: the body
// carries encrypted_symmetric_key, symmetric_key_uuid, ss58_address,
// timestamp and nonce; the signature (a header, or a body field) covers the
// body as canonical JSON. The hotkey header names the validator; without it
// (the design's first client sent no headers at all) the body's
// ss58_address does, and the signature must be a body field. The
// signature covers ss58_address either way. The checks are those of the
// 2.x form: stake, window and replay, signature, key.
func (h *Handler) legacyExchange(ctx *fasthttp.RequestCtx, fh *fiberHeaders, clk clock) refusal {
	c, rec, code := h.checkLegacy(ctx, fh, clk)
	if code != "" {
		return refuse(code)
	}
	// The limit before the nonce: a 429 leaves the nonce unused.
	if r := h.charge(limitHandshake, c.id.pub, clk); r.refused() {
		return r
	}
	if r := h.record(clk, rec.Record); r.refused() {
		return r
	}
	return refuse(h.storeKey(ctx, c, rec.uuid, rec.wrapped, clk.protocol))
}

// legacyRecord is what checkLegacy found in the earlier form's body: its
// nonce, to record, and the key to store.
type legacyRecord struct {
	nonce.Record
	uuid, wrapped string
}

// checkLegacy runs the earlier form's checks, in the 2.x form's order
// where they meet: the body, the validator and its stake, the window, the
// signature over the body as canonical JSON.
func (h *Handler) checkLegacy(ctx *fasthttp.RequestCtx, fh *fiberHeaders, clk clock) (caller, legacyRecord, Code) {
	headerForm := len(fh.legacyKey) > 0
	dec := json.NewDecoder(bytes.NewReader(ctx.Request.Body()))
	dec.UseNumber()
	var body map[string]any
	if err := dec.Decode(&body); err != nil || dec.More() {
		if !headerForm {
			return caller{}, legacyRecord{}, CodeMissingHeader // neither form: a 2.x request without its headers
		}
		return caller{}, legacyRecord{}, CodeInvalidBody
	}
	if !headerForm {
		_, hasAddr := body["ss58_address"]
		_, hasSig := body["signature"].(string)
		if !hasAddr || !hasSig {
			return caller{}, legacyRecord{}, CodeMissingHeader
		}
	}
	wrapped, ok1 := body["encrypted_symmetric_key"].(string)
	uuid, ok2 := body["symmetric_key_uuid"].(string)
	addr, ok3 := body["ss58_address"].(string)
	n, ok4 := body["nonce"].(string)
	tsNum, ok5 := body["timestamp"].(json.Number)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || uuid == "" || n == "" {
		return caller{}, legacyRecord{}, CodeInvalidBody
	}
	if len(uuid) > maxUUID || len(n) > maxLegacyNonce {
		return caller{}, legacyRecord{}, CodeBadRequest
	}
	var sigText []byte
	if headerForm {
		sigText = fh.signature
	}
	if s, ok := body["signature"].(string); ok {
		if len(sigText) == 0 {
			sigText = []byte(s)
		}
		delete(body, "signature")
	}
	if len(sigText) == 0 {
		return caller{}, legacyRecord{}, CodeMissingHeader
	}

	who := fh.legacyKey
	if !headerForm {
		who = []byte(addr)
	}
	id, code := h.ids.lookup(who, h.listed)
	if code != "" {
		return caller{}, legacyRecord{}, code
	}
	claimed, _, err := ss58.Decode(addr)
	if err != nil || claimed != id.pub {
		return caller{}, legacyRecord{}, CodeSignatureInvalid // the body names another validator than the header
	}
	stake, code := h.stakeOf(id.pub)
	if code != "" {
		return caller{}, legacyRecord{}, code
	}
	secs, err := tsNum.Float64()
	if err != nil || math.IsNaN(secs) || math.IsInf(secs, 0) {
		return caller{}, legacyRecord{}, CodeInvalidBody
	}
	ts := int64(secs * 1e9)
	if err := nonce.CheckWindow(ts, clk.protocol.UnixNano(), h.opts.NonceWindow); err != nil {
		return caller{}, legacyRecord{}, nonceCode(err, false)
	}
	var sig [64]byte
	if code := parseSignature(sigText, &sig); code != "" {
		return caller{}, legacyRecord{}, code
	}
	msg, ok := canonicalJSON(nil, body)
	if !ok || !id.verifier.Verify(msg, &sig) {
		return caller{}, legacyRecord{}, CodeSignatureInvalid
	}
	rec := legacyRecord{
		Record:  nonce.Record{Scope: nonce.Scope{Who: id.pub, Kind: nonce.KindHeader}, Nonce: []byte(n), TS: ts},
		uuid:    uuid,
		wrapped: wrapped,
	}
	return caller{id: id, stake: stake}, rec, ""
}

// canonicalJSON appends v as Python's json.dumps(v, sort_keys=True,
// separators=(",", ":")) writes it (ensure_ascii on), which is what the
// earlier handshake signs. v holds what encoding/json decodes with
// UseNumber. It reports false for values Python could not have produced.
func canonicalJSON(dst []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), true
	case bool:
		if x {
			return append(dst, "true"...), true
		}
		return append(dst, "false"...), true
	case string:
		return pyQuote(dst, x), true
	case json.Number:
		return pyNumber(dst, string(x))
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = canonicalJSON(dst, e); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys) // byte order of UTF-8 is code point order, as Python sorts
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = pyQuote(dst, k)
			dst = append(dst, ':')
			var ok bool
			if dst, ok = canonicalJSON(dst, x[k]); !ok {
				return dst, false
			}
		}
		return append(dst, '}'), true
	}
	return dst, false
}

// pyQuote appends s as Python's JSON encoder does with ensure_ascii:
// printable ASCII as is, the usual short escapes, everything else \uXXXX
// (lower-case hex, UTF-16 surrogate pairs above the BMP).
func pyQuote(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for _, r := range s {
		switch {
		case r == '"':
			dst = append(dst, '\\', '"')
		case r == '\\':
			dst = append(dst, '\\', '\\')
		case r == '\n':
			dst = append(dst, '\\', 'n')
		case r == '\r':
			dst = append(dst, '\\', 'r')
		case r == '\t':
			dst = append(dst, '\\', 't')
		case r == '\b':
			dst = append(dst, '\\', 'b')
		case r == '\f':
			dst = append(dst, '\\', 'f')
		case r >= 0x20 && r <= 0x7e:
			dst = append(dst, byte(r))
		default:
			if r == utf8.RuneError {
				r = 0xfffd
			}
			units := []rune{r}
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				units = []rune{r1, r2}
			}
			for _, u := range units {
				dst = append(dst, '\\', 'u',
					hexDigits[u>>12&0xf], hexDigits[u>>8&0xf], hexDigits[u>>4&0xf], hexDigits[u&0xf])
			}
		}
	}
	return append(dst, '"')
}

// pyNumber appends a JSON number as Python re-serialises it: integers as
// exact integers, others as repr(float).
func pyNumber(dst []byte, s string) ([]byte, bool) {
	if !strings.ContainsAny(s, ".eE") {
		var z big.Int
		if _, ok := z.SetString(s, 10); !ok {
			return dst, false
		}
		return z.Append(dst, 10), true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) {
		return dst, false
	}
	return pyFloatRepr(dst, f), true
}

// pyFloatRepr appends Python's repr of a float: the shortest digits that
// round-trip, in positional notation when the decimal exponent is in
// [-4, 16), else as d.ddde+XX.
func pyFloatRepr(dst []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // [-]d[.ddd]e±XX
	mant, expText, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expText)
	neg := strings.HasPrefix(mant, "-")
	mant = strings.TrimPrefix(mant, "-")
	digits := strings.Replace(mant, ".", "", 1)
	decpt := exp + 1
	if neg {
		dst = append(dst, '-')
	}
	if decpt > -4 && decpt <= 16 {
		switch {
		case decpt <= 0:
			dst = append(dst, "0."...)
			dst = append(dst, strings.Repeat("0", -decpt)...)
			dst = append(dst, digits...)
		case decpt >= len(digits):
			dst = append(dst, digits...)
			dst = append(dst, strings.Repeat("0", decpt-len(digits))...)
			dst = append(dst, ".0"...)
		default:
			dst = append(dst, digits[:decpt]...)
			dst = append(dst, '.')
			dst = append(dst, digits[decpt:]...)
		}
		return dst
	}
	dst = append(dst, digits[0])
	if len(digits) > 1 {
		dst = append(dst, '.')
		dst = append(dst, digits[1:]...)
	}
	dst = append(dst, 'e')
	if exp < 0 {
		dst = append(dst, '-')
		exp = -exp
	} else {
		dst = append(dst, '+')
	}
	if exp < 10 {
		dst = append(dst, '0')
	}
	return strconv.AppendInt(dst, int64(exp), 10)
}
