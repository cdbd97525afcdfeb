package proxy

import (
	"errors"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"
)

// Defaults for ServerOptions fields left zero.
const (
	DefaultMaxHeader    = 16 << 10
	DefaultReadTimeout  = 30 * time.Second
	DefaultWriteTimeout = 10 * time.Minute
	DefaultIdleTimeout  = 120 * time.Second
	DefaultMaxConns     = 10_000
)

// ServerOptions are the HTTP-level limits of the validator-facing server.
type ServerOptions struct {
	MaxHeader     int           // request line + headers, bytes (431 above)
	ReadTimeout   time.Duration // to read a whole request, bounding slow clients
	WriteTimeout  time.Duration // to write a response, streams included
	IdleTimeout   time.Duration // between requests on a kept-alive connection
	MaxConns      int           // concurrent connections
	MaxConnsPerIP int           // concurrent connections from one address; 0: no cap
}

// NewServer returns the fasthttp server for h with the given limits. Errors
// fasthttp meets before the handler runs (a malformed request, headers or
// body too large) get the same JSON error bodies as the handler's.
func (h *Handler) NewServer(o ServerOptions) *fasthttp.Server {
	if o.MaxHeader <= 0 {
		o.MaxHeader = DefaultMaxHeader
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	return &fasthttp.Server{
		Name:                         "fibergate",
		Handler:                      h.Serve,
		ErrorHandler:                 h.serveError,
		ReadBufferSize:               o.MaxHeader,
		MaxRequestBodySize:           h.opts.MaxBody,
		ReadTimeout:                  o.ReadTimeout,
		WriteTimeout:                 o.WriteTimeout,
		IdleTimeout:                  o.IdleTimeout,
		Concurrency:                  o.MaxConns,
		MaxConnsPerIP:                o.MaxConnsPerIP,
		DisablePreParseMultipartForm: true,
		NoDefaultContentType:         true,
		Logger:                       fasthttpLogger{h},
	}
}

// serveError answers requests fasthttp could not parse.
func (h *Handler) serveError(ctx *fasthttp.RequestCtx, err error) {
	code := CodeBadRequest
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		code = CodeBodyTooLarge
	case errors.As(err, new(*fasthttp.ErrSmallBuffer)):
		code = CodeHeaderTooLarge
	}
	writeError(ctx, refuse(code))
	ctx.SetConnectionClose()
	h.opts.Metrics.Request(labelInvalidHTTP, code.result(), 0)
}

// fasthttpLogger routes fasthttp's own messages to the handler's logger.
type fasthttpLogger struct{ h *Handler }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.h.log.Debug("http server", "msg", fmt.Sprintf(format, args...))
}
