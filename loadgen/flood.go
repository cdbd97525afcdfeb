package loadgen

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fibergate/fibergate/client"
	"github.com/valyala/fasthttp"
)

// FloodKind is one kind of bad request flood mode sends.
type FloodKind struct {
	// Name labels the kind in FloodResult.Kinds.
	Name string
	// Want is fibergate's answer, "<status> <error code>". Other Fiber
	// servers may answer differently; any 4xx is a refusal.
	Want string
	// About says what the request is.
	About string
}

// floodKinds lists the kinds in the order flood mode cycles through them.
var floodKinds = [...]FloodKind{
	{"unknown_hotkey", "403 unknown_validator", "an encrypted request validly signed by a hotkey in no validator list"},
	{"forged_signature", "401 signature_invalid", "a staked validator's request signed by another key"},
	{"malformed_signature", "401 signature_malformed", "a staked validator's request whose signature is not 0x and 128 hex digits"},
	{"wrong_miner", "401 wrong_miner", "a staked validator's request signed for another miner"},
	{"malformed_nonce", "401 nonce_malformed", "a staked validator's request whose nonce is not <unix ns>_<suffix>"},
	{"stale_nonce", "401 nonce_expired", "a staked validator's request whose nonce is twice the window old"},
	{"unknown_key", "400 unknown_key", "a staked validator's signed request under a uuid it never exchanged"},
	{"garbage_body", "400 token_invalid", "a staked validator's signed request under its real key whose body is not a token"},
	{"replayed_exchange", "401 nonce_replayed", "a successful key exchange sent again, byte for byte"},
	{"replayed_request", "401 nonce_replayed", "a signed request the target already saw, sent again"},
	{"bad_base64_handshake", "400 invalid_base64", "a signed key exchange whose encrypted_symmetric_key is not base64"},
	{"missing_headers", "422 missing_header", "a request with only some of Fiber's headers"},
	{"oversized_body", "413 body_too_large", "a request announcing a body one byte over the target's limit"},
	{"random_bytes", "400 bad_request", "random bytes instead of an HTTP request"},
}

// FloodKinds returns the kinds of bad request flood mode sends, in turn.
func FloodKinds() []FloodKind { return append([]FloodKind(nil), floodKinds[:]...) }

// Indices into floodKinds of the kinds handled specially.
const (
	kindUnknownHotkey = iota
	kindForgedSignature
	kindMalformedSignature
	kindWrongMiner
	kindMalformedNonce
	kindStaleNonce
	kindUnknownKey
	kindGarbageBody
	kindReplayedExchange
	kindReplayedRequest
	kindBadBase64
	kindMissingHeaders
	kindOversized
	kindRandomBytes
)

// malformedNonces are nonces Fiber's format refuses, for kindMalformedNonce.
var malformedNonces = [...]string{
	"not-a-nonce",
	"1700000000000000000",
	"_ABCDEFGHIJ",
	"17000000000000000x0_ABCDEFGHIJ",
	"-1700000000000000000_ABCDEFGHIJ",
	"99999999999999999999999_ABCDEFGHIJ",
	"01700000000000000000_ABCDEFGHIJ",
	"1700000000000000000_",
	strings.Repeat("1", 140) + "_ABCDEFGHIJ",
}

// header is one request header.
type header struct {
	name  string
	value []byte
}

// floodItem is one bad request, made ahead like honest ones.
type floodItem struct {
	kind   int
	method string
	path   string
	hdr    []header
	body   []byte
	raw    []byte    // sent as is on a new connection instead
	made   time.Time // when its nonce was made (protocol clock)
}

// flooder makes and sends flood mode's bad requests.
type flooder struct {
	opts      *Options
	t         *target
	miner     []byte
	sessions  []session  // staked validators with a key
	intruders []identity // keys in no validator list
	hs        *handshaker
	next      atomic.Uint64

	exchange atomic.Pointer[hsItem] // a recent successful exchange, to replay
	exMade   atomic.Int64           // when it was made, unix ns (protocol clock)
	exOK     atomic.Int64
	exFailed atomic.Int64

	ringMu sync.Mutex
	ring   []*floodItem // recent requests whose nonce the target recorded
	ringAt int
}

const (
	numIntruders = 16
	ringSize     = 64
)

func newFlooder(opts *Options, t *target, sessions []session, hs *handshaker) (*flooder, error) {
	intr, err := identities(intruderPrefix, numIntruders)
	if err != nil {
		return nil, err
	}
	return &flooder{opts: opts, t: t, miner: []byte(opts.Miner), sessions: sessions, intruders: intr, hs: hs}, nil
}

// refreshExchange makes a real key exchange and keeps it to replay.
func (f *flooder) refreshExchange(req *fasthttp.Request, resp *fasthttp.Response) error {
	it, err := f.hs.make(0)
	if err != nil {
		return err
	}
	made := f.opts.Now()
	if err := f.hs.exchange(req, resp, &it); err != nil {
		f.exFailed.Add(1)
		return fmt.Errorf("loadgen: key exchange to replay: %w", err)
	}
	if s := resp.StatusCode(); s != fasthttp.StatusOK {
		f.exFailed.Add(1)
		return fmt.Errorf("loadgen: key exchange to replay: status %d %s", s, errorCode(resp.Body()))
	}
	f.exOK.Add(1)
	f.exchange.Store(&it)
	f.exMade.Store(made.UnixNano())
	return nil
}

// refresh makes a new exchange to replay every third of the usable age,
// so replays are always refused as replays, not as expired, until ctx is
// done.
func (f *flooder) refresh(ctx context.Context) {
	req, resp := new(fasthttp.Request), new(fasthttp.Response)
	tick := time.NewTicker(f.opts.usableAge() / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_ = f.refreshExchange(req, resp) // counted; the old one serves on
		}
	}
}

// itemBytes estimates the memory one flood request takes.
func (f *flooder) itemBytes() int { return 1024 }

// build makes the next n bad requests, cycling through the kinds.
func (f *flooder) build(n int, now time.Time) ([]floodItem, error) {
	items := make([]floodItem, n)
	for i := range items {
		seq := f.next.Add(1) - 1
		it, err := f.make(int(seq%uint64(len(floodKinds))), seq)
		if err != nil {
			return nil, err
		}
		items[i] = it
	}
	return items, nil
}

// make builds one bad request of kind; seq varies the choices within it.
func (f *flooder) make(kind int, seq uint64) (floodItem, error) {
	now := f.opts.Now()
	it := floodItem{kind: kind, method: fasthttp.MethodPost, path: f.opts.Path, made: now}
	rnd, err := randomBytes(f.opts.Rand, 32+nonceSuffixLen+64)
	if err != nil {
		return it, err
	}
	staked := f.sessions[seq%uint64(len(f.sessions))]
	intruder := f.intruders[seq%uint64(len(f.intruders))]
	nonce := client.AppendNonce(nil, now, rnd[32:])
	uuid := hex.AppendEncode(nil, rnd[:32])
	garbage := base64.URLEncoding.AppendEncode(nil, rnd[32+nonceSuffixLen:])

	// signed returns Fiber's five headers for signer claiming to be who.
	signed := func(who, signer identity, nonce, miner, uuid []byte) ([]header, error) {
		sig, err := signHeader(signer, nonce, miner, uuid, f.opts)
		return []header{
			{"validator-hotkey", who.hotkey}, {"miner-hotkey", miner}, {"nonce", nonce},
			{"symmetric-key-uuid", uuid}, {"signature", sig},
			{"content-type", []byte("application/octet-stream")},
		}, err
	}
	switch kind {
	case kindUnknownHotkey:
		it.hdr, err = signed(intruder, intruder, nonce, f.miner, uuid)
		it.body = garbage
	case kindForgedSignature:
		it.hdr, err = signed(staked.identity, intruder, nonce, f.miner, staked.uuid)
		it.body = garbage
	case kindMalformedSignature:
		it.hdr, err = signed(staked.identity, staked.identity, nonce, f.miner, staked.uuid)
		bad := [][]byte{[]byte("0x" + strings.Repeat("ab", 63)), []byte("0x" + strings.Repeat("zz", 64)), []byte(strings.Repeat("ab", 64))}
		it.hdr[4].value = bad[seq%uint64(len(bad))]
		it.body = garbage
	case kindWrongMiner:
		it.hdr, err = signed(staked.identity, staked.identity, nonce, intruder.hotkey, staked.uuid)
		it.body = garbage
	case kindMalformedNonce:
		n := []byte(malformedNonces[seq%uint64(len(malformedNonces))])
		it.hdr, err = signed(staked.identity, staked.identity, n, f.miner, staked.uuid)
		it.body = garbage
	case kindStaleNonce:
		old := client.AppendNonce(nil, now.Add(-2*f.opts.NonceWindow), rnd[32:])
		it.hdr, err = signed(staked.identity, staked.identity, old, f.miner, staked.uuid)
		it.body = garbage
	case kindUnknownKey:
		it.hdr, err = signed(staked.identity, staked.identity, nonce, f.miner, uuid)
		it.body = garbage
	case kindGarbageBody:
		it.hdr, err = signed(staked.identity, staked.identity, nonce, f.miner, staked.uuid)
		it.body = garbage
	case kindReplayedExchange, kindReplayedRequest:
		// Resolved when sent: they replay what the target has seen by then.
	case kindBadBase64:
		it.path = exchangePath
		it.hdr, err = signed(staked.identity, staked.identity, nonce, f.miner, uuid)
		it.hdr[5].value = []byte("application/json")
		it.body = []byte(`{"encrypted_symmetric_key": "@@ not base64 @@"}`)
	case kindMissingHeaders:
		it.hdr = []header{{"validator-hotkey", staked.hotkey}, {"content-type", []byte("application/octet-stream")}}
		it.body = garbage
	case kindOversized:
		it.raw = fmt.Appendf(nil, "POST %s%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n",
			f.t.prefix, f.opts.Path, f.t.host, f.opts.MaxBody+1)
	case kindRandomBytes:
		n := 16 + int(seq%48)
		it.raw = append(append(make([]byte, 0, n+4), rnd[:n]...), "\r\n\r\n"...)
	}
	return it, err
}

// remember keeps a sent request whose nonce the target recorded, to replay.
func (f *flooder) remember(it *floodItem) {
	f.ringMu.Lock()
	defer f.ringMu.Unlock()
	if len(f.ring) < ringSize {
		f.ring = append(f.ring, it)
		return
	}
	f.ring[f.ringAt] = it
	f.ringAt = (f.ringAt + 1) % ringSize
}

// replayable returns a remembered request still inside the usable age, or
// nil.
func (f *flooder) replayable(seq uint64) *floodItem {
	f.ringMu.Lock()
	defer f.ringMu.Unlock()
	if len(f.ring) == 0 {
		return nil
	}
	it := f.ring[seq%uint64(len(f.ring))]
	if f.opts.Now().Sub(it.made) > f.opts.usableAge() {
		return nil
	}
	return it
}

// do sends one bad request and records the answer. An answer that is not
// a 4xx (a 2xx, a 5xx, or none at all) is a failure of the target.
func (f *flooder) do(w *worker, it *floodItem, from time.Time) {
	kind := it.kind
	name := floodKinds[kind].Name
	var err error
	var status int
	var body []byte
	if kind == kindReplayedRequest {
		if r := f.replayable(f.next.Load()); r != nil {
			it = r
		} else {
			kind = kindReplayedExchange // nothing to replay yet
		}
	}
	switch {
	case kind == kindReplayedExchange:
		err = f.hs.exchange(w.req, w.resp, f.exchange.Load())
		status, body = w.resp.StatusCode(), w.resp.Body()
	case it.raw != nil:
		status, body, err = f.sendRaw(w, it.raw)
	default:
		err = f.send(w, it)
		status, body = w.resp.StatusCode(), w.resp.Body()
	}
	w.t.hist.record(time.Since(from))
	w.t.ops++
	if err != nil {
		w.t.noAnswer(err)
		w.t.answer(name, transportClass(err), true)
		return
	}
	w.t.status(status)
	code := errorCode(body)
	w.t.code(code)
	refused := status >= 400 && status <= 499
	w.t.answer(name, answerText(status, code, nil), !refused)
	if !refused {
		return
	}
	w.t.ok++
	// These passed the signature check, so the target recorded their
	// nonces: sent again, they must be refused as replays.
	if (kind == kindGarbageBody || kind == kindUnknownKey) && status == fasthttp.StatusBadRequest {
		f.remember(it)
	}
}

// send sends a well-formed HTTP request.
func (f *flooder) send(w *worker, it *floodItem) error {
	f.t.prepare(w.req, it.method, it.path)
	for _, h := range it.hdr {
		w.req.Header.SetBytesV(h.name, h.value)
	}
	w.req.SetBodyRaw(it.body)
	return f.t.hc.DoTimeout(w.req, w.resp, f.opts.Timeout)
}

// sendRaw writes raw on a new connection and reads one answer.
func (f *flooder) sendRaw(w *worker, raw []byte) (int, []byte, error) {
	conn, err := f.t.dial(f.opts.Timeout)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(f.opts.Timeout)); err != nil {
		return 0, nil, err
	}
	_, werr := conn.Write(raw)
	if w.br == nil {
		w.br = bufio.NewReaderSize(conn, 4096)
	} else {
		w.br.Reset(conn)
	}
	w.resp.Reset()
	if err := w.resp.ReadLimitBody(w.br, 64<<10); err != nil {
		if werr != nil {
			return 0, nil, werr
		}
		return 0, nil, err
	}
	return w.resp.StatusCode(), w.resp.Body(), nil
}
