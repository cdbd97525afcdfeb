package loadgen

import (
	"bytes"
	"time"

	"github.com/fibergate/fibergate/client"
	"github.com/valyala/fasthttp"
)

// plainItem is one plain request: the payload with a fresh "nonce" field,
// exactly what an app behind a Fiber server receives for an encrypted
// request. The slices share their batch's buffer and are never modified.
type plainItem struct {
	body      []byte
	bodyNonce []byte
}

// plainSender makes and sends plain requests for ModePlain: no handshake,
// no Fiber headers, no signature, no encryption. It drives an app or a
// plain proxy with the same generator, the same payloads and the same
// per-request work as ModeRequests, so the two can be compared fairly.
type plainSender struct {
	opts    *Options
	t       *target
	path    string
	payload []byte // padded, before the nonce is added
}

func newPlainSender(opts *Options, t *target) (*plainSender, error) {
	p, err := padPayload(opts.Payload, opts.Size)
	if err != nil {
		return nil, err
	}
	return &plainSender{opts: opts, t: t, path: opts.Path, payload: p}, nil
}

// itemBytes estimates the memory one prepared request takes.
func (p *plainSender) itemBytes() int { return 48 + len(p.payload) + 48 + 32 }

// build makes n requests, each the payload with a fresh "nonce" field
// stamped now, as Fiber's client adds it before encrypting.
func (p *plainSender) build(n int, now time.Time) ([]plainItem, error) {
	rnd, err := randomBytes(p.opts.Rand, n*nonceSuffixLen)
	if err != nil {
		return nil, err
	}
	bodyLen := len(p.payload) + 48 // ", \"nonce\": \"...\"" with a 30-byte nonce
	arena := make([]byte, 0, n*(32+bodyLen))
	items := make([]plainItem, n)
	var nonce []byte
	for i := range items {
		nonce = client.AppendNonce(nonce[:0], p.opts.Now(), rnd[i*nonceSuffixLen:])
		body, err := client.WithNonce(p.payload, string(nonce))
		if err != nil {
			return nil, err
		}
		start := len(arena)
		arena = append(arena, nonce...)
		bodyNonce := arena[start:len(arena):len(arena)]
		start = len(arena)
		arena = append(arena, body...)
		items[i] = plainItem{body: arena[start:len(arena):len(arena)], bodyNonce: bodyNonce}
	}
	return items, nil
}

// init sets the headers every request of a worker shares.
func (p *plainSender) init(req *fasthttp.Request) {
	p.t.prepare(req, fasthttp.MethodPost, p.path)
	req.Header.SetContentType("application/json")
}

// do sends one plain request and records its answer; latency runs from
// from.
func (p *plainSender) do(w *worker, it *plainItem, from time.Time) {
	req, resp := w.req, w.resp
	req.SetBodyRaw(it.body)
	err := p.t.hc.DoTimeout(req, resp, p.opts.Timeout)
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
	if p.opts.CheckEcho && !bytes.Contains(resp.Body(), it.bodyNonce) {
		w.t.code("client_echo_mismatch")
		w.t.ended(status, "client_echo_mismatch")
		return
	}
	w.t.ended(status, "")
	w.t.ok++
}
