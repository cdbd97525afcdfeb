package loadgen

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/valyala/fasthttp"
)

// Fiber's handshake endpoints.
const (
	publicKeyPath = "/public-encryption-key"
	exchangePath  = "/exchange-symmetric-key"
)

// hsItem is one pre-made key exchange: a fresh Fernet key wrapped for the
// target's RSA key, under a fresh uuid, with signed headers.
type hsItem struct {
	v     uint32 // index into handshaker.ids
	uuid  []byte
	nonce []byte
	sig   []byte
	body  []byte // {"encrypted_symmetric_key": "<standard base64>"}
}

// handshaker makes and sends key exchanges for ModeHandshakes, and the
// real exchanges flood mode replays.
type handshaker struct {
	opts  *Options
	t     *target
	miner []byte
	ids   []identity
	pub   *rsa.PublicKey
	// pubField is the "public_key" value as the target's JSON spells it,
	// to check cheaply that the key has not changed since setup.
	pubField []byte
	next     atomic.Uint64
}

// newHandshaker fetches the target's public key, which the exchanges it
// makes are wrapped for.
func newHandshaker(opts *Options, t *target, ids []identity) (*handshaker, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	t.prepare(req, fasthttp.MethodGet, publicKeyPath)
	if err := t.hc.DoTimeout(req, resp, opts.Timeout); err != nil {
		return nil, fmt.Errorf("loadgen: fetching the public key: %w", err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return nil, fmt.Errorf("loadgen: fetching the public key: status %d", resp.StatusCode())
	}
	var pk struct {
		PublicKey json.RawMessage `json:"public_key"`
	}
	if err := json.Unmarshal(resp.Body(), &pk); err != nil {
		return nil, fmt.Errorf("loadgen: decoding the public key answer: %w", err)
	}
	var pem string
	if err := json.Unmarshal(pk.PublicKey, &pem); err != nil {
		return nil, fmt.Errorf("loadgen: decoding the public key answer: %w", err)
	}
	pub, err := rsakey.ParsePublicPEM([]byte(pem))
	if err != nil {
		return nil, fmt.Errorf("loadgen: the target's public key: %w", err)
	}
	return &handshaker{opts: opts, t: t, miner: []byte(opts.Miner), ids: ids, pub: pub, pubField: bytes.Clone(pk.PublicKey)}, nil
}

// itemBytes estimates the memory one pre-made exchange takes.
func (h *handshaker) itemBytes() int {
	return 128 + 64 + 32 + sigHexLen + base64.StdEncoding.EncodedLen(h.pub.Size()) + 40
}

// build makes n exchanges, round robin over the validators, as Fiber's
// client makes them: 32 random key bytes wrapped with RSA-OAEP-SHA256, a
// uuid of 64 hex digits, and a signature over "{nonce}:{miner}:{uuid}".
func (h *handshaker) build(n int, now time.Time) ([]hsItem, error) {
	items := make([]hsItem, n)
	for i := range items {
		v := uint32((h.next.Add(1) - 1) % uint64(len(h.ids)))
		it, err := h.make(v)
		if err != nil {
			return nil, err
		}
		items[i] = it
	}
	return items, nil
}

// make builds one exchange for validator v.
func (h *handshaker) make(v uint32) (hsItem, error) {
	rnd, err := randomBytes(h.opts.Rand, 32+32+nonceSuffixLen)
	if err != nil {
		return hsItem{}, err
	}
	ct, err := rsakey.EncryptSymmetricKey(h.pub, [32]byte(rnd[:32]), h.opts.Rand)
	if err != nil {
		return hsItem{}, fmt.Errorf("loadgen: wrapping a key: %w", err)
	}
	it := hsItem{v: v, uuid: hex.AppendEncode(nil, rnd[32:64])}
	it.body = append([]byte(`{"encrypted_symmetric_key": "`), base64.StdEncoding.AppendEncode(nil, ct)...)
	it.body = append(it.body, `"}`...)
	it.nonce = client.AppendNonce(nil, h.opts.Now(), rnd[64:])
	it.sig, err = signHeader(h.ids[v], it.nonce, h.miner, it.uuid, h.opts)
	return it, err
}

// signHeader returns the signature header value of id over
// "{nonce}:{miner}:{third}".
func signHeader(id identity, nonce, miner, third []byte, opts *Options) ([]byte, error) {
	msg := client.AppendSigningMessage(make([]byte, 0, len(nonce)+len(miner)+len(third)+2), nonce, miner, third)
	sig, err := client.AppendSignature(make([]byte, 0, sigHexLen), id.kp, msg, opts.Rand)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	return sig, nil
}

// exchange sends it to the target and returns the answer in resp.
func (h *handshaker) exchange(req *fasthttp.Request, resp *fasthttp.Response, it *hsItem) error {
	h.t.prepare(req, fasthttp.MethodPost, exchangePath)
	req.Header.SetBytesV("validator-hotkey", h.ids[it.v].hotkey)
	req.Header.SetBytesV("miner-hotkey", h.miner)
	req.Header.SetBytesV("nonce", it.nonce)
	req.Header.SetBytesV("symmetric-key-uuid", it.uuid)
	req.Header.SetBytesV("signature", it.sig)
	req.Header.SetContentType("application/json")
	req.SetBodyRaw(it.body)
	return h.t.hc.DoTimeout(req, resp, h.opts.Timeout)
}

// do performs one full handshake, as a validator does it: GET the public
// key (which must be the one the exchange was wrapped for), then POST the
// exchange. Latency runs from from and covers both.
func (h *handshaker) do(w *worker, it *hsItem, from time.Time) {
	req, resp := w.req, w.resp
	w.t.ops++
	h.t.prepare(req, fasthttp.MethodGet, publicKeyPath)
	err := h.t.hc.DoTimeout(req, resp, h.opts.Timeout)
	if !h.answered(w, resp, err, from, false) {
		return
	}
	if !bytes.Contains(resp.Body(), h.pubField) {
		w.t.hist.record(time.Since(from))
		w.t.code("client_public_key_changed")
		w.t.ended(resp.StatusCode(), "client_public_key_changed")
		return
	}
	err = h.exchange(req, resp, it)
	if !h.answered(w, resp, err, from, true) {
		return
	}
	w.t.hist.record(time.Since(from))
	w.t.ok++
}

// answered records a failed step of a handshake (and its latency) and
// reports whether the step succeeded. The status of a handshake is the one
// of its failed step, or of its last.
func (h *handshaker) answered(w *worker, resp *fasthttp.Response, err error, from time.Time, last bool) bool {
	if err != nil {
		w.t.hist.record(time.Since(from))
		w.t.noAnswer(err)
		return false
	}
	status := resp.StatusCode()
	ok := status >= 200 && status <= 299
	if !ok || last {
		w.t.status(status)
	}
	if !ok {
		w.t.hist.record(time.Since(from))
		code := errorCode(resp.Body())
		w.t.code(code)
		w.t.ended(status, code)
	} else if last {
		w.t.ended(status, "")
	}
	return ok
}
