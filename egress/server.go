package egress

import (
	"errors"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"
)

// ServerOptions are the HTTP-level limits of the callers' server. Zero
// fields take the defaults.
type ServerOptions struct {
	MaxHeader    int           // request line and headers, bytes; default 16 KiB (431 above)
	ReadTimeout  time.Duration // to read a whole request; default 30s
	WriteTimeout time.Duration // to write a whole answer, streams included; default 10m
	IdleTimeout  time.Duration // between requests on a connection; default 120s
}

// NewServer returns the fasthttp server for h. Errors fasthttp meets before
// the handler runs (malformed HTTP, a body or headers too large) get
// egress's JSON error answers too.
func (h *Handler) NewServer(o ServerOptions) *fasthttp.Server {
	if o.MaxHeader <= 0 {
		o.MaxHeader = 16 << 10
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 30 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Minute
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 120 * time.Second
	}
	return &fasthttp.Server{
		Name:                         "fibergate-egress",
		Handler:                      h.Serve,
		ErrorHandler:                 h.serveError,
		ReadBufferSize:               o.MaxHeader,
		MaxRequestBodySize:           h.opts.Limits.MaxBody,
		ReadTimeout:                  o.ReadTimeout,
		WriteTimeout:                 o.WriteTimeout,
		IdleTimeout:                  o.IdleTimeout,
		Concurrency:                  h.opts.Limits.MaxInFlight + 1024,
		DisablePreParseMultipartForm: true,
		NoDefaultContentType:         true,
		NoDefaultServerHeader:        true,
		Logger:                       fasthttpLogger{h},
	}
}

// serveError answers requests fasthttp could not read.
func (h *Handler) serveError(ctx *fasthttp.RequestCtx, err error) {
	code := CodeBadRequest
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		code = CodeBodyTooLarge
	case errors.As(err, new(*fasthttp.ErrSmallBuffer)):
		code = CodeHeaderTooLarge
	}
	writeError(ctx, code, "", 0)
	ctx.SetConnectionClose()
	h.m.Request(h.opts.Mode.String(), string(code), 0)
}

type fasthttpLogger struct{ h *Handler }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.h.log.Debug("http server", "msg", fmt.Sprintf(format, args...))
}
