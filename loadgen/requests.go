package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/valyala/fasthttp"
)

// session is a validator after its handshake: the key it sends under.
type session struct {
	identity
	uuid []byte
	key  *fernet.Key
}

// reqItem is one pre-signed encrypted request: its header nonce and
// signature, and its body (the token of the payload with a fresh inner
// nonce). The slices share their batch's buffer and are never modified.
type reqItem struct {
	v         uint32 // index into requester.sessions
	nonce     []byte
	sig       []byte // "0x" and 128 hex digits
	body      []byte
	bodyNonce []byte
}

// requester makes and sends encrypted requests for ModeRequests.
type requester struct {
	opts     *Options
	t        *target
	miner    []byte
	path     string
	payload  []byte // padded, before the nonce is added
	sessions []session
	next     atomic.Uint64 // round robin over sessions
}

// sigHexLen is the length of a signature header value.
const sigHexLen = 2 + 2*sr25519.SignatureSize

// setupSessions hands each validator a key with Fiber's own handshake
// (client.Client), in parallel, and returns the sessions and how long the
// handshakes took.
func setupSessions(ctx context.Context, opts *Options, ids []identity) ([]session, time.Duration, error) {
	hc := &http.Client{Timeout: opts.Timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	defer hc.CloseIdleConnections()
	out := make([]session, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, min(opts.Concurrency, 32))
	start := time.Now()
	var wg sync.WaitGroup
	for i := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := client.New(client.Options{
				BaseURL: opts.URL, Keypair: ids[i].kp, MinerHotkey: opts.Miner,
				HTTP: hc, Rand: opts.Rand, Now: opts.Now,
			})
			if err == nil {
				err = c.Handshake(ctx)
			}
			if err != nil {
				errs[i] = fmt.Errorf("loadgen: handshake of validator %d (%s): %w%s", i, ids[i].hotkey, err, hint(err))
				return
			}
			key, uuid := c.Key()
			out[i] = session{identity: ids[i], uuid: []byte(uuid), key: key}
		})
	}
	wg.Wait()
	took := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return nil, took, err
		}
	}
	return out, took, nil
}

// hint adds advice to a setup error a misconfigured target causes.
func hint(err error) string {
	var e *client.Error
	if errors.As(err, &e) {
		switch e.Code {
		case "unknown_validator", "insufficient_stake":
			return " (list the simulated validators in the target's validators.nodes_file: see `fibergate bench nodes`)"
		case "wrong_miner":
			return " (--miner must be the target's miner hotkey)"
		}
	}
	return ""
}

func newRequester(opts *Options, t *target, sessions []session) (*requester, error) {
	p, err := padPayload(opts.Payload, opts.Size)
	if err != nil {
		return nil, err
	}
	return &requester{opts: opts, t: t, miner: []byte(opts.Miner), path: opts.Path, payload: p, sessions: sessions}, nil
}

// itemBytes estimates the memory one pre-signed request takes.
func (r *requester) itemBytes() int {
	return 64 + 2*40 + sigHexLen + fernet.EncodedLen(len(r.payload)+60)
}

// build signs n requests, round robin over the validators. Each gets a
// fresh header nonce signed over "{nonce}:{miner}:{uuid}" and a body that
// is the Fernet token of the payload with a fresh "nonce" field, made at
// now, as Fiber's client makes them.
func (r *requester) build(n int, now time.Time) ([]reqItem, error) {
	const perItem = 2*nonceSuffixLen + 16
	rnd, err := randomBytes(r.opts.Rand, n*perItem)
	if err != nil {
		return nil, err
	}
	plainLen := len(r.payload) + 48 // ", \"nonce\": \"...\"" with a 30-byte nonce
	arena := make([]byte, 0, n*(2*32+sigHexLen+fernet.EncodedLen(plainLen)))
	items := make([]reqItem, n)
	msg := make([]byte, 0, 256)
	for i := range items {
		rb := rnd[i*perItem : (i+1)*perItem]
		v := uint32((r.next.Add(1) - 1) % uint64(len(r.sessions)))
		s := &r.sessions[v]
		t := r.opts.Now()

		start := len(arena)
		arena = client.AppendNonce(arena, t, rb)
		nonce := arena[start:len(arena):len(arena)]

		msg = client.AppendSigningMessage(msg[:0], nonce, r.miner, s.uuid)
		start = len(arena)
		arena, err = client.AppendSignature(arena, s.kp, msg, r.opts.Rand)
		if err != nil {
			return nil, fmt.Errorf("loadgen: %w", err)
		}
		sigHex := arena[start:len(arena):len(arena)]

		start = len(arena)
		arena = client.AppendNonce(arena, t, rb[nonceSuffixLen:])
		bodyNonce := arena[start:len(arena):len(arena)]
		plain, err := client.WithNonce(r.payload, string(bodyNonce))
		if err != nil {
			return nil, err
		}
		iv := (*[16]byte)(rb[2*nonceSuffixLen:])
		start = len(arena)
		arena = s.key.Encrypt(arena, plain, t.Unix(), iv)
		items[i] = reqItem{v: v, nonce: nonce, sig: sigHex, body: arena[start:len(arena):len(arena)], bodyNonce: bodyNonce}
	}
	return items, nil
}

// init sets the headers every request of a worker shares.
func (r *requester) init(req *fasthttp.Request) {
	r.t.prepare(req, fasthttp.MethodPost, r.path)
	req.Header.Set("miner-hotkey", r.opts.Miner)
	req.Header.SetContentType("application/octet-stream")
	if r.opts.EncryptedResponse {
		req.Header.Set("X-Fiber-Response-Encryption", "fernet")
	}
}

// do sends one pre-signed request and records its answer; latency runs
// from from.
func (r *requester) do(w *worker, it *reqItem, from time.Time) {
	s := &r.sessions[it.v]
	req, resp := w.req, w.resp
	req.Header.SetBytesV("validator-hotkey", s.hotkey)
	req.Header.SetBytesV("symmetric-key-uuid", s.uuid)
	req.Header.SetBytesV("nonce", it.nonce)
	req.Header.SetBytesV("signature", it.sig)
	req.SetBodyRaw(it.body)
	err := r.t.hc.DoTimeout(req, resp, r.opts.Timeout)
	w.t.hist.record(time.Since(from))
	w.t.ops++
	if err != nil {
		w.t.noAnswer(err)
		return
	}
	status := resp.StatusCode()
	w.t.status(status)
	if status < 200 || status > 299 {
		code := errorCode(resp.Body())
		w.t.code(code)
		w.t.ended(status, code)
		return
	}
	if code := r.check(w, s, it, resp); code != "" {
		w.t.code(code)
		w.t.ended(status, code)
		return
	}
	w.t.ended(status, "")
	w.t.ok++
}

// check verifies a 2xx answer as the options ask: encrypted and decrypting
// under the validator's key, and echoing the request's inner nonce. It
// returns the generator's error code, or "".
func (r *requester) check(w *worker, s *session, it *reqItem, resp *fasthttp.Response) string {
	body := resp.Body()
	if r.opts.EncryptedResponse {
		if string(resp.Header.Peek("X-Fiber-Encrypted")) != "fernet" {
			return "client_not_encrypted"
		}
		plain, _, err := s.key.Decrypt(w.buf[:0], bytes.TrimSpace(body))
		if err != nil {
			return "client_decrypt_failed"
		}
		w.buf, body = plain[:0], plain
	}
	if r.opts.CheckEcho && !bytes.Contains(body, it.bodyNonce) {
		return "client_echo_mismatch"
	}
	return ""
}
