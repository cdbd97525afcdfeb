package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"

	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/valyala/fasthttp"
)

// maxStreamLine caps how much of one line is held before it is sent anyway
// (as its own token when encrypting), so an app that never writes a newline
// cannot make fibergate buffer without bound.
const maxStreamLine = 1 << 20

// Stream results for the metrics.
const (
	streamComplete  = "complete"
	streamUpstream  = "upstream_error"
	streamClientErr = "client_gone"
)

// relayStream sends a streamed app response on as it arrives: as it is, or
// line by line as Fernet tokens each followed by "\n". The copy runs after
// the handler returns (fasthttp calls the writer then), so it takes what it
// needs now and releases resp when done.
func (h *Handler) relayStream(ctx *fasthttp.RequestCtx, resp *fasthttp.Response, call upstreamCall) {
	copyResponseHeaders(&ctx.Response, resp, call.encrypt)
	src := resp.BodyStream()
	key := call.key
	m := h.opts.Metrics
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer fasthttp.ReleaseResponse(resp)
		var result string
		if key != nil && call.encrypt {
			result = copyLinesEncrypted(w, src, key)
		} else {
			result = copyFlushing(w, src)
		}
		m.Stream(result)
	})
}

// copyFlushing copies src to w, flushing after every read so each piece the
// app writes reaches the validator at once.
func copyFlushing(w *bufio.Writer, src io.Reader) string {
	buf := getBuf()
	defer putBuf(buf)
	b := (*buf)[:cap(*buf)]
	for {
		n, err := src.Read(b)
		if n > 0 {
			if _, werr := w.Write(b[:n]); werr != nil {
				return streamClientErr
			}
			if werr := w.Flush(); werr != nil {
				return streamClientErr
			}
		}
		if errors.Is(err, io.EOF) {
			return streamComplete
		}
		if err != nil {
			return streamUpstream
		}
	}
}

// copyLinesEncrypted reads src line by line and writes each line (without
// its "\n") as one Fernet token followed by "\n", flushed at once. A last
// line without "\n" is sent the same way.
func copyLinesEncrypted(w *bufio.Writer, src io.Reader, key *fernet.Key) string {
	in := getBuf()
	out := getBuf()
	defer putBuf(in)
	defer putBuf(out)
	r := bufio.NewReaderSize(src, 32<<10)
	line := (*in)[:0]
	send := func() bool {
		tok, err := key.Seal((*out)[:0], line)
		if err != nil {
			return false
		}
		*out = tok
		tok = append(tok, '\n')
		*out = tok
		if _, err := w.Write(tok); err != nil {
			return false
		}
		return w.Flush() == nil
	}
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		*in = line
		switch {
		case err == nil:
			line = bytes.TrimSuffix(line, []byte("\n"))
			if !send() {
				return streamClientErr
			}
			line = line[:0]
		case errors.Is(err, bufio.ErrBufferFull):
			if len(line) >= maxStreamLine {
				if !send() {
					return streamClientErr
				}
				line = line[:0]
			}
		default:
			if len(line) > 0 && !send() {
				return streamClientErr
			}
			if errors.Is(err, io.EOF) {
				return streamComplete
			}
			return streamUpstream
		}
	}
}
