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

	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/internal/jsontext"
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
	orig := len(dst)
	// payload[:copied] is dealt with: written or dropped (the whitespace
	// before the object is dropped).
	copied := len(payload) - len(bytes.TrimLeft(payload, " \t\r\n"))
	lastEnd := -1 // the end of the last member's value
	set := false
	_, end, ok := jsontext.Object(payload, maxJSONNest, func(m jsontext.Member) {
		if m.KeyIs("nonce") {
			if !set {
				dst = append(dst, payload[copied:m.ValueStart]...)
				dst = appendQuoted(dst, nonce)
				set = true
			} else {
				// A second member of the name: dropped with the comma before it.
				dst = append(dst, payload[copied:lastEnd]...)
			}
			copied = m.ValueEnd
		}
		lastEnd = m.ValueEnd
	})
	if !ok {
		return dst[:orig], ErrNotObject
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

// maxJSONNest bounds nesting below the payload's object, as encoding/json
// bounds it, so a payload of brackets cannot exhaust the stack.
const maxJSONNest = 10001
