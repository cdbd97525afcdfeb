package client

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/crypto/sr25519"
)

// The pieces of Fiber's wire that every validator-side sender here
// shares (this package's Client, the load generator and egress), written
// once so they cannot drift apart. Each Append function appends to dst and
// returns the extended slice, so a caller with a pooled buffer allocates
// nothing.

// Fiber's header names, in the lower case its client sends them.
const (
	HeaderValidatorHotkey = "validator-hotkey"
	HeaderMinerHotkey     = "miner-hotkey"
	HeaderNonce           = "nonce"
	HeaderSignature       = "signature"
	HeaderKeyUUID         = "symmetric-key-uuid"
)

// fibergate's own response encryption: a request carrying
// HeaderResponseEncryption: fernet asks for an encrypted answer, which
// comes back with HeaderEncrypted: fernet, and with the app's original
// Content-Type in HeaderContentType (the answer's own Content-Type is then
// application/octet-stream).
const (
	HeaderResponseEncryption = "X-Fiber-Response-Encryption"
	HeaderEncrypted          = "X-Fiber-Encrypted"
	HeaderContentType        = "X-Fiber-Content-Type"
)

// Fiber's handshake endpoints.
const (
	PublicKeyPath = "/public-encryption-key"
	ExchangePath  = "/exchange-symmetric-key"
)

// UnknownKeyDetail is the detail of Fiber's 400 answer to a request under a
// key it does not hold (an expired key, or a miner that restarted).
const UnknownKeyDetail = "No symmetric key found for that hotkey and uuid"

// NonceSuffixLen is the length of a nonce's random suffix, as in Fiber's
// client.
const NonceSuffixLen = 10

const nonceAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// AppendNonce appends a Fiber nonce for time t to dst: the unix time in
// nanoseconds, '_', and NonceSuffixLen letters and digits chosen by the
// first NonceSuffixLen bytes of rnd, which must hold that many.
func AppendNonce(dst []byte, t time.Time, rnd []byte) []byte {
	dst = strconv.AppendInt(dst, t.UnixNano(), 10)
	dst = append(dst, '_')
	for _, b := range rnd[:NonceSuffixLen] {
		dst = append(dst, nonceAlphabet[int(b)%len(nonceAlphabet)])
	}
	return dst
}

// AppendSigningMessage appends what a Fiber 2.x validator signs:
// "{nonce}:{miner}:{third}", where third is the key uuid (encrypted mode
// and the exchange) or the body's SHA-256 in hex (signed mode), or
// "{nonce}:{miner}" when third is empty (a signed-mode GET, as 2.4 signs
// it).
func AppendSigningMessage(dst, nonce, miner, third []byte) []byte {
	dst = append(dst, nonce...)
	dst = append(dst, ':')
	dst = append(dst, miner...)
	if len(third) > 0 {
		dst = append(dst, ':')
		dst = append(dst, third...)
	}
	return dst
}

// AppendSignature appends the signature header value of kp over msg: "0x"
// and 128 lowercase hex digits.
func AppendSignature(dst []byte, kp *sr25519.Keypair, msg []byte, rand io.Reader) ([]byte, error) {
	sig, err := kp.Sign(msg, rand)
	if err != nil {
		return dst, fmt.Errorf("client: signing: %w", err)
	}
	dst = append(dst, "0x"...)
	return hex.AppendEncode(dst, sig[:]), nil
}

// AppendBodyHash appends the SHA-256 of body in lowercase hex, the third
// part of a signed-mode message.
func AppendBodyHash(dst, body []byte) []byte {
	sum := sha256.Sum256(body)
	return hex.AppendEncode(dst, sum[:])
}

// ExchangeBody returns the body of POST /exchange-symmetric-key for key,
// wrapped for pub as Fiber's client wraps it: RSA-OAEP with SHA-256, in
// standard base64.
func ExchangeBody(pub *rsa.PublicKey, key [32]byte, rand io.Reader) ([]byte, error) {
	ct, err := rsakey.EncryptSymmetricKey(pub, key, rand)
	if err != nil {
		return nil, fmt.Errorf("client: wrapping the key: %w", err)
	}
	out := make([]byte, 0, 32+base64.StdEncoding.EncodedLen(len(ct)))
	out = append(out, `{"encrypted_symmetric_key": "`...)
	out = base64.StdEncoding.AppendEncode(out, ct)
	return append(out, `"}`...), nil
}

// ParsePublicKey reads the answer of GET /public-encryption-key:
// {"public_key": "<PEM>", ...}.
func ParsePublicKey(answer []byte) (*rsa.PublicKey, error) {
	var pk struct {
		PublicKey *string `json:"public_key"`
	}
	if err := json.Unmarshal(answer, &pk); err != nil {
		return nil, fmt.Errorf("client: decoding the public key answer: %w", err)
	}
	if pk.PublicKey == nil {
		return nil, errors.New("client: the public key answer has no public_key")
	}
	pub, err := rsakey.ParsePublicPEM([]byte(*pk.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("client: the miner's public key: %w", err)
	}
	return pub, nil
}

// IsUnknownKey reports whether an answer says the miner holds no key under
// the request's (validator, uuid), so a fresh exchange can save the
// request: Fiber's 400 with UnknownKeyDetail, or fibergate's
// "requires_handshake": true (error unknown_key).
func IsUnknownKey(status int, body []byte) bool {
	if status != 400 || len(body) == 0 || len(body) > 64<<10 {
		return false
	}
	var b struct {
		Detail            any    `json:"detail"`
		Error             string `json:"error"`
		RequiresHandshake bool   `json:"requires_handshake"`
	}
	if json.Unmarshal(bytes.TrimSpace(body), &b) != nil {
		return false
	}
	d, _ := b.Detail.(string)
	return b.RequiresHandshake || b.Error == "unknown_key" || d == UnknownKeyDetail
}

// ErrNotObject means a payload is not one JSON object.
var ErrNotObject = errors.New("client: payload must be a JSON object")

// AppendWithNonce appends payload, which must be exactly one JSON object,
// with its top-level "nonce" set to nonce, as Fiber's client sets it
// (payload["nonce"] = ... on the decoded dict, then json.dumps): a
// "nonce" member already there keeps its place and gets the new value,
// further members of that name are dropped (Python keeps one per name),
// and otherwise the member is added at the end as `, "nonce": "<nonce>"`.
// payload must be valid UTF-8, as JSON text is (a Fiber server decodes it
// as such). Every other byte of payload is kept as it is, so every value
// reaches the miner unchanged (large integers and exact number spellings
// included). nonce must need no JSON escaping, which every Fiber nonce
// satisfies. The payload is checked and rewritten in one pass.
func AppendWithNonce(dst, payload, nonce []byte) ([]byte, error) {
	s := jsonScan{b: payload}
	s.space()
	if s.i >= len(payload) || payload[s.i] != '{' {
		return dst, ErrNotObject
	}
	copied := s.i // payload[:copied] is dealt with: written or dropped
	s.i++
	set := false
	lastEnd := -1 // the end of the last member's value
	s.space()
	if s.i < len(payload) && payload[s.i] == '}' {
		s.i++
	} else {
		for {
			s.space()
			keyStart := s.i
			escaped, ok := s.str()
			if !ok {
				return dst, ErrNotObject
			}
			isNonce := keyIsNonce(payload[keyStart:s.i], escaped)
			s.space()
			if s.i >= len(payload) || payload[s.i] != ':' {
				return dst, ErrNotObject
			}
			s.i++
			s.space()
			valStart := s.i
			if !s.value(0) {
				return dst, ErrNotObject
			}
			switch {
			case isNonce && !set:
				dst = append(dst, payload[copied:valStart]...)
				dst = appendQuoted(dst, nonce)
				copied, set = s.i, true
			case isNonce:
				// A second member of the name: dropped with the comma before it.
				dst = append(dst, payload[copied:lastEnd]...)
				copied = s.i
			}
			lastEnd = s.i
			s.space()
			if s.i >= len(payload) {
				return dst, ErrNotObject
			}
			if payload[s.i] == ',' {
				s.i++
				continue
			}
			if payload[s.i] != '}' {
				return dst, ErrNotObject
			}
			s.i++
			break
		}
	}
	end := s.i
	s.space()
	if s.i != len(payload) {
		return dst, ErrNotObject
	}
	if set || lastEnd >= 0 {
		if !set {
			dst = append(dst, payload[copied:lastEnd]...)
			dst = append(dst, `, "nonce": `...)
			dst = appendQuoted(dst, nonce)
			copied = lastEnd
		}
		return append(dst, payload[copied:end]...), nil
	}
	dst = append(dst, `{"nonce": `...)
	dst = appendQuoted(dst, nonce)
	return append(dst, '}'), nil
}

// WithNonce returns payload with its "nonce" set as AppendWithNonce does.
func WithNonce(payload []byte, nonce string) ([]byte, error) {
	return AppendWithNonce(make([]byte, 0, len(payload)+len(nonce)+16), payload, []byte(nonce))
}

func appendQuoted(dst, s []byte) []byte {
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// keyIsNonce reports whether the quoted JSON string key decodes to
// "nonce", in any spelling ("non\u0063e" too).
func keyIsNonce(key []byte, escaped bool) bool {
	if !escaped {
		return string(key) == `"nonce"`
	}
	if len(key) > 64 {
		return false
	}
	var s string
	return json.Unmarshal(key, &s) == nil && s == "nonce"
}

// maxJSONDepth bounds nesting, as encoding/json does, so a payload of
// brackets cannot exhaust the stack.
const maxJSONDepth = 10000

// jsonScan checks JSON text (RFC 8259, and valid UTF-8 throughout) in one
// pass without building values; i is where it is.
type jsonScan struct {
	b []byte
	i int
}

func (s *jsonScan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value checks one value starting at i.
func (s *jsonScan) value(depth int) bool {
	if s.i >= len(s.b) || depth > maxJSONDepth {
		return false
	}
	switch c := s.b[s.i]; c {
	case '{':
		s.i++
		s.space()
		if s.i < len(s.b) && s.b[s.i] == '}' {
			s.i++
			return true
		}
		for {
			s.space()
			if _, ok := s.str(); !ok {
				return false
			}
			s.space()
			if s.i >= len(s.b) || s.b[s.i] != ':' {
				return false
			}
			s.i++
			s.space()
			if !s.value(depth + 1) {
				return false
			}
			s.space()
			if s.i >= len(s.b) {
				return false
			}
			switch s.b[s.i] {
			case ',':
				s.i++
			case '}':
				s.i++
				return true
			default:
				return false
			}
		}
	case '[':
		s.i++
		s.space()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return true
		}
		for {
			s.space()
			if !s.value(depth + 1) {
				return false
			}
			s.space()
			if s.i >= len(s.b) {
				return false
			}
			switch s.b[s.i] {
			case ',':
				s.i++
			case ']':
				s.i++
				return true
			default:
				return false
			}
		}
	case '"':
		_, ok := s.str()
		return ok
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	return s.number()
}

func (s *jsonScan) literal(word string) bool {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	return true
}

// str checks a string starting at i (a '"') and reports whether it holds
// an escape.
func (s *jsonScan) str() (escaped, ok bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return false, false
	}
	i := s.i + 1
	for i < len(s.b) {
		c := s.b[i]
		switch {
		case c == '"':
			s.i = i + 1
			return escaped, true
		case c == '\\':
			escaped = true
			if i+1 >= len(s.b) {
				return false, false
			}
			switch s.b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s.b) || !isHex4(s.b[i+2:i+6]) {
					return false, false
				}
				i += 6
			default:
				return false, false
			}
		case c < 0x20:
			return false, false
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(s.b[i:])
			if r == utf8.RuneError && n == 1 {
				return false, false
			}
			i += n
		}
	}
	return false, false
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// number checks a JSON number starting at i.
func (s *jsonScan) number() bool {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	s.i = i
	return true
}
