package egress

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/valyala/fasthttp"
)

// Stream results: the values of the streams metric's result label.
const (
	streamComplete = "complete"
	streamMinerErr = "miner_error" // the miner broke off, or went idle past timeouts.idle
	streamClient   = "client_gone"
	streamLongLine = "line_too_long"
	streamBadLine  = "bad_line" // an encrypted line that did not decrypt
	streamPanic    = "internal_error"
)

// StreamResults lists the streams metric's result label values.
func StreamResults() []string {
	return []string{streamComplete, streamMinerErr, streamClient, streamLongLine, streamBadLine, streamPanic}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 1<<20 {
		return // let a rare large buffer go rather than pin it
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// errTooLarge is readAll's error for an answer over its bound.
var errTooLarge = errors.New("egress: the miner's answer is over limits.max_response")

// readAll reads a whole answer body of at most limit bytes.
func readAll(resp *fasthttp.Response, limit int) ([]byte, error) {
	return readBody(resp, limit, nil)
}

// readBody appends a whole answer body of at most limit bytes to dst. A
// fixed-length body is read to its exact end (only then does fasthttp put
// the connection back in its pool); any other to the stream's end.
func readBody(resp *fasthttp.Response, limit int, dst []byte) ([]byte, error) {
	st := resp.BodyStream()
	if st == nil {
		b := resp.Body()
		if len(b) > limit {
			return dst, errTooLarge
		}
		return append(dst, b...), nil
	}
	n := resp.Header.ContentLength()
	if n > limit {
		return dst, errTooLarge
	}
	if n >= 0 {
		// Grown as the bytes arrive, not to the length the miner claims:
		// a miner that announces 10 MiB and sends nothing costs nothing.
		start := len(dst)
		for len(dst)-start < n {
			if len(dst) == cap(dst) {
				dst = slices.Grow(dst, min(n-(len(dst)-start), 64<<10))
			}
			m, err := st.Read(dst[len(dst):min(cap(dst), start+n)])
			dst = dst[:len(dst)+m]
			if err != nil && len(dst)-start < n {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return dst[:start], err
			}
		}
		var end [1]byte
		if m, err := st.Read(end[:]); m != 0 || err != io.EOF {
			return dst[:start], io.ErrUnexpectedEOF
		}
		return dst, nil
	}
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, 4096)
		}
		m, err := st.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+m]
		if len(dst) > limit {
			return dst, errTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// answerCode maps an error of reading an answer to its code.
func answerCode(err error) Code {
	if errors.Is(err, errTooLarge) {
		return CodeMinerBadAnswer
	}
	if isTimeout(err) {
		return CodeMinerTimeout
	}
	return CodeMinerUnreachable
}

// encryptedAnswer reports whether the miner encrypted its answer (fibergate's
// X-Fiber-Encrypted: fernet).
func encryptedAnswer(resp *fasthttp.Response) bool {
	v := resp.Header.Peek(client.HeaderEncrypted)
	return len(v) == 6 && bytes.EqualFold(v, []byte("fernet"))
}

// isStream reports whether the miner streams its answer: chunked or
// close-delimited, or server-sent events.
func isStream(resp *fasthttp.Response) bool {
	return resp.Header.ContentLength() < 0 || bytes.HasPrefix(resp.Header.ContentType(), []byte("text/event-stream"))
}

// relay sends the miner's answer to the caller: a whole body read and
// written at once (decrypted when the miner encrypted it under sess's
// key), or a stream relayed as it arrives (each line decrypted when
// encrypted). It owns resp.
func (h *Handler) relay(ctx *fasthttp.RequestCtx, c *call, resp *fasthttp.Response, sess *session) {
	status := resp.StatusCode()
	if status < 200 || status > 599 {
		// fasthttp reads past interim answers; what is left is a 101
		// nobody asked for, or no HTTP status at all.
		fasthttp.ReleaseResponse(resp)
		h.fail(ctx, c, CodeMinerBadAnswer, "", 0)
		return
	}
	var key *fernet.Key
	if sess != nil && encryptedAnswer(resp) {
		key = sess.key
	}
	if status == fasthttp.StatusNoContent || status == fasthttp.StatusNotModified || resp.BodyStream() == nil || !isStream(resp) {
		buf := getBuf()
		defer putBuf(buf)
		body, err := readBody(resp, h.opts.Limits.MaxResponse, (*buf)[:0])
		*buf = body[:0]
		if err != nil {
			fasthttp.ReleaseResponse(resp)
			h.fail(ctx, c, answerCode(err), "", 0)
			return
		}
		h.relayWhole(ctx, c, resp, body, key)
		fasthttp.ReleaseResponse(resp)
		return
	}
	s := relayPool.Get().(*streamRelay)
	*s = streamRelay{h: h, c: *c, resp: resp, src: resp.BodyStream(), key: key, maxLine: h.opts.Limits.MaxStreamLine,
		line: s.line[:0], out: s.out[:0], br: s.br}
	if key != nil {
		if s.br == nil {
			s.br = bufio.NewReaderSize(s.src, 32<<10)
		} else {
			s.br.Reset(s.src)
		}
	}
	// The first piece is read before anything is answered: a miner that
	// breaks off before its body begins gets egress's error, not a 200
	// that ends at once (fasthttp would not even send the headers).
	if !s.fill() && s.err != io.EOF {
		code := CodeMinerUnreachable
		switch {
		case s.result == streamBadLine, s.result == streamLongLine:
			code = CodeMinerBadAnswer
		case s.timedOut:
			code = CodeMinerTimeout
		}
		s.c = call{}
		s.Close()
		h.fail(ctx, c, code, "", 0)
		return
	}
	copyAnswerHeaders(&ctx.Response, resp, key != nil)
	c.result = resultOf(status)
	// The stream owns the slots and buffers from here; the handler's call
	// gives them up.
	c.streaming = true
	ctx.Response.SetBodyStream(s, -1)
}

// relayWhole answers with a whole body, decrypted under key when it is not
// nil; one that does not decrypt is 502 miner_bad_answer.
func (h *Handler) relayWhole(ctx *fasthttp.RequestCtx, c *call, resp *fasthttp.Response, body []byte, key *fernet.Key) {
	if key != nil {
		buf := getBuf()
		defer putBuf(buf)
		plain, _, err := key.Decrypt((*buf)[:0], bytes.TrimSpace(body))
		*buf = plain
		if err != nil {
			h.log.Warn("an encrypted answer did not decrypt", "status", resp.StatusCode())
			h.fail(ctx, c, CodeMinerBadAnswer, "the miner's encrypted answer did not decrypt under the key", 0)
			return
		}
		body = plain
	}
	copyAnswerHeaders(&ctx.Response, resp, key != nil)
	status := resp.StatusCode()
	if status == fasthttp.StatusNoContent || status == fasthttp.StatusNotModified {
		ctx.Response.SkipBody = true
	} else {
		ctx.Response.SetBody(body)
	}
	c.result = resultOf(status)
}

// Errors that end a relayed stream. fasthttp then closes the caller's
// connection without the final chunk, so a cut answer looks cut.
var (
	errStreamCut  = errors.New("egress: the miner's stream broke off")
	errLongLine   = errors.New("egress: an encrypted stream line is over limits.max_stream_line")
	errBadLine    = errors.New("egress: an encrypted stream line did not decrypt")
	errStreamBug  = errors.New("egress: internal error while relaying a stream")
	errClientGone = errors.New("egress: the caller went away")
)

// streamRelay is the caller's body for a streamed answer: fasthttp reads it
// after the handler returned, writing each piece Read returns as a chunk
// and flushing it. Plain, it passes the miner's bytes as they come;
// encrypted, it turns each line's token into its plaintext and "\n" (an
// empty line stays empty). It owns resp and the call's slots, and gives
// them back on Close.
type streamRelay struct {
	h        *Handler
	c        call
	resp     *fasthttp.Response
	src      io.Reader
	key      *fernet.Key
	br       *bufio.Reader
	line     []byte
	out      []byte
	off      int
	err      error
	result   string
	timedOut bool
	maxLine  int
}

var relayPool = sync.Pool{New: func() any { return new(streamRelay) }}

// Read implements io.Reader for fasthttp. A panic here would kill the
// connection's goroutine, and the process: it ends this stream instead.
func (s *streamRelay) Read(p []byte) (n int, err error) {
	defer func() {
		if v := recover(); v != nil {
			s.h.m.Panic()
			s.h.log.Error("stream relay panic", "panic", fmt.Sprint(v))
			s.end(errStreamBug, streamPanic)
			n, err = 0, s.err
		}
	}()
	if s.off == len(s.out) && !s.fill() {
		return 0, s.err
	}
	n = copy(p, s.out[s.off:])
	s.off += n
	return n, nil
}

// fill reads the next piece of the answer into s.out: the bytes as they
// came (plain), or the next line's plaintext and "\n" (encrypted). It
// reports whether there is one; when not, s.err says why.
func (s *streamRelay) fill() bool {
	if s.err != nil {
		return false
	}
	s.out, s.off = s.out[:0], 0
	if s.key == nil {
		return s.fillPlain()
	}
	return s.fillLine()
}

func (s *streamRelay) fillPlain() bool {
	if cap(s.out) < 32<<10 {
		s.out = make([]byte, 0, 32<<10)
	}
	n, err := s.src.Read(s.out[:cap(s.out)])
	s.out = s.out[:n]
	s.ended(err)
	return n > 0
}

// ended records how a read from the miner ended, if it did.
func (s *streamRelay) ended(err error) {
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		s.end(io.EOF, streamComplete)
	default:
		s.timedOut = isTimeout(err)
		s.end(errStreamCut, streamMinerErr)
	}
}

func (s *streamRelay) fillLine() bool {
	for len(s.out) == 0 {
		if s.err != nil {
			return false
		}
		chunk, err := s.br.ReadSlice('\n')
		if err == nil {
			chunk = chunk[:len(chunk)-1]
		}
		if len(s.line)+len(chunk) > s.maxLine {
			s.end(errLongLine, streamLongLine)
			return false
		}
		switch {
		case err == nil:
			line := chunk
			if len(s.line) > 0 {
				s.line = append(s.line, chunk...)
				line = s.line
			}
			if !s.open(line) {
				return false
			}
			s.line = s.line[:0]
		case errors.Is(err, bufio.ErrBufferFull):
			s.line = append(s.line, chunk...)
		case errors.Is(err, io.EOF):
			s.line = append(s.line, chunk...)
			if len(bytes.TrimSpace(s.line)) > 0 && !s.open(s.line) {
				return false
			}
			s.ended(err)
		default:
			// Cut off: a partial line is never passed on.
			s.ended(err)
		}
	}
	return true
}

// open appends line's plaintext and "\n" to the output.
func (s *streamRelay) open(line []byte) bool {
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) > 0 {
		out, _, err := s.key.Decrypt(s.out, line)
		if err != nil {
			s.end(errBadLine, streamBadLine)
			return false
		}
		s.out = out
	}
	s.out = append(s.out, '\n')
	return true
}

// end records how the stream ended, once.
func (s *streamRelay) end(err error, result string) {
	if s.result == "" {
		s.result = result
		s.h.m.Stream(result)
	}
	if s.err == nil {
		s.err = err
	}
}

// Close is called by fasthttp when the answer is written or abandoned.
func (s *streamRelay) Close() error {
	if s.result == "" {
		s.end(errClientGone, streamClient)
	}
	fasthttp.ReleaseResponse(s.resp)
	s.c.release()
	if s.br != nil {
		s.br.Reset(nil)
	}
	if cap(s.line) > 1<<20 {
		s.line = nil
	}
	if cap(s.out) > 1<<20 {
		s.out = nil
	}
	*s = streamRelay{line: s.line[:0], out: s.out[:0], br: s.br}
	relayPool.Put(s)
	return nil
}
