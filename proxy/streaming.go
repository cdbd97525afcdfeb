package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/valyala/fasthttp"
)

// Stream results for the metrics.
const (
	streamComplete  = "complete"
	streamUpstream  = "upstream_error" // the app broke off, or stopped answering in time
	streamClientErr = "client_gone"
	streamLongLine  = "line_too_long" // an encrypted stream's line passed limits.max_stream_line
	streamPanic     = "internal_error"
)

// StreamResults are the values of the upstream streams metric's result label.
func StreamResults() []string {
	return []string{streamComplete, streamUpstream, streamClientErr, streamLongLine, streamPanic}
}

// Errors that end a relayed stream. fasthttp then closes the validator's
// connection without the final chunk, so a cut answer looks cut.
var (
	errStreamCut  = errors.New("proxy: the upstream stream broke off")
	errLongLine   = errors.New("proxy: an encrypted stream line is over limits.max_stream_line")
	errStreamBug  = errors.New("proxy: internal error while relaying a stream")
	streamBufSize = 32 << 10
)

// relay is the validator's body for a streamed app answer: fasthttp reads
// it while writing the response, after the handler has returned, and
// flushes each piece Read returns. It passes the app's bytes as they come,
// or, with a key, each complete line as one Fernet token and "\n" (an
// empty line as a bare "\n", never an empty token). It owns the exchange
// with the app and finishes it on Close.
type relay struct {
	h       *Handler
	x       exchange
	src     io.Reader
	key     *fernet.Key // nil: plain
	br      *bufio.Reader
	line    []byte // an encrypted line being gathered
	out     []byte // sealed output not yet returned
	off     int
	err     error // sticky: what every later Read returns
	cause   error // the app's stream error that cut the stream
	result  string
	maxLine int
}

var relayPool = sync.Pool{New: func() any { return new(relay) }}

// relayStream sets the validator's body to the app's streamed answer and
// takes the exchange: the relay finishes it when fasthttp closes it. An
// encrypted stream's first line is read before anything is sent, so a
// stream that cannot deliver it (the app cut it off, or it is over
// limits.max_stream_line) is answered with a Code instead of a cut
// answer; after the first line, a cut stream looks cut.
func (h *Handler) relayStream(ctx *fasthttp.RequestCtx, x *exchange, call upstreamCall) Code {
	x.openStream()
	s := relayPool.Get().(*relay)
	*s = relay{h: h, x: *x, src: x.resp.BodyStream(), maxLine: h.opts.MaxStreamLine, line: s.line[:0], out: s.out[:0], br: s.br}
	*x = exchange{}
	if call.encrypt && call.key != nil {
		s.key = call.key
		if s.br == nil {
			s.br = bufio.NewReaderSize(s.src, streamBufSize)
		} else {
			s.br.Reset(s.src)
		}
		if code := s.first(); code != "" {
			s.Close()
			return code
		}
	}
	copyResponseHeaders(&ctx.Response, s.x.resp, call.encrypt)
	ctx.Response.SetBodyStream(s, -1)
	return ""
}

// first seals the encrypted stream's first line, and returns the Code to
// answer with when there is none to send: the stream ended cleanly with
// no line at all is a whole, empty answer.
func (s *relay) first() (code Code) {
	defer func() {
		if v := recover(); v != nil {
			s.h.opts.Metrics.Panic()
			s.h.log.Error("stream relay panic", "panic", fmt.Sprint(v))
			s.end(errStreamBug, streamPanic)
			code = CodeInternal
		}
	}()
	for s.off == len(s.out) && s.err == nil {
		s.step()
	}
	switch {
	case s.off < len(s.out), s.result == streamComplete:
		return ""
	case s.result == streamLongLine:
		return CodeUpstreamTooLarge
	case s.result == streamPanic:
		return CodeInternal
	case isTimeout(s.cause):
		return CodeUpstreamTimeout
	}
	return CodeUpstreamDown
}

// Read implements io.Reader for fasthttp. A panic here would kill the
// server's connection goroutine: it ends this stream instead, counted.
func (s *relay) Read(p []byte) (n int, err error) {
	defer func() {
		if v := recover(); v != nil {
			s.h.opts.Metrics.Panic()
			s.h.log.Error("stream relay panic", "panic", fmt.Sprint(v))
			s.end(errStreamBug, streamPanic)
			n, err = 0, s.err
		}
	}()
	if s.err != nil && s.off == len(s.out) {
		return 0, s.err
	}
	if s.key == nil {
		return s.readPlain(p)
	}
	return s.readSealed(p)
}

func (s *relay) readPlain(p []byte) (int, error) {
	n, err := s.src.Read(p)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		s.end(io.EOF, streamComplete)
	default:
		s.cause = err
		s.end(errStreamCut, streamUpstream)
	}
	if n > 0 {
		return n, nil // the error, if any, comes with the next Read
	}
	return 0, s.err
}

func (s *relay) readSealed(p []byte) (int, error) {
	for s.off == len(s.out) {
		if s.err != nil {
			return 0, s.err
		}
		s.step()
	}
	n := copy(p, s.out[s.off:])
	s.off += n
	return n, nil
}

// step reads what the app sent next: it seals a completed line into the
// output, keeps part of a line that does not fit the buffer, or records
// how the stream ended. The output must be empty.
func (s *relay) step() {
	s.out, s.off = s.out[:0], 0
	chunk, err := s.br.ReadSlice('\n')
	if err == nil {
		chunk = chunk[:len(chunk)-1]
	}
	if len(s.line)+len(chunk) > s.maxLine {
		s.end(errLongLine, streamLongLine)
		return
	}
	switch {
	case err == nil:
		line := chunk
		if len(s.line) > 0 {
			s.line = append(s.line, chunk...)
			line = s.line
		}
		if s.seal(line) {
			s.line = s.line[:0]
		}
	case errors.Is(err, bufio.ErrBufferFull):
		s.line = append(s.line, chunk...)
	case errors.Is(err, io.EOF):
		// The app ended its body cleanly: a last line without "\n" is
		// whole.
		s.line = append(s.line, chunk...)
		if len(s.line) > 0 && !s.seal(s.line) {
			return
		}
		s.end(io.EOF, streamComplete)
	default:
		// Cut off: a partial line is never sealed.
		s.cause = err
		s.end(errStreamCut, streamUpstream)
	}
}

// seal appends line's token and "\n" to the output (a bare "\n" for an
// empty line).
func (s *relay) seal(line []byte) bool {
	if len(line) > 0 {
		tok, err := s.key.Seal(s.out, line)
		if err != nil {
			s.end(errStreamBug, streamPanic)
			return false
		}
		s.out = tok
	}
	s.out = append(s.out, '\n')
	return true
}

// end records how the stream ended, once.
func (s *relay) end(err error, result string) {
	if s.result == "" {
		s.result = result
		s.h.opts.Metrics.Stream(result)
	}
	if s.err == nil {
		s.err = err
	}
}

// Close is called by fasthttp when the response is written or abandoned.
// An unfinished stream means the validator went away. The exchange with
// the app is finished: its connection is pooled again only if the app's
// body was read to its clean end.
func (s *relay) Close() error {
	if s.result == "" {
		s.end(errStreamCut, streamClientErr)
	}
	if s.br != nil {
		s.br.Reset(nil)
	}
	s.x.finish(s.result == streamComplete)
	if cap(s.line) > 1<<20 {
		s.line = nil
	}
	if cap(s.out) > 1<<20 {
		s.out = nil
	}
	*s = relay{line: s.line[:0], out: s.out[:0], br: s.br}
	relayPool.Put(s)
	return nil
}
