package proxy

import (
	"context"
	"log/slog"
	"time"

	"github.com/valyala/fasthttp"
)

// accessLog writes one line per request: route, method, path, status, the
// error code and the duration, plus the validator hotkey as sent (never a
// key, token, signature or body).
func (h *Handler) accessLog(ctx *fasthttp.RequestCtx, route string, code Code, start time.Time) {
	if !h.log.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	hotkey := ctx.Request.Header.Peek("validator-hotkey")
	if len(hotkey) > 64 {
		hotkey = hotkey[:64]
	}
	h.log.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("route", route),
		slog.String("method", string(ctx.Method())),
		slog.String("path", string(ctx.Path())),
		slog.Int("status", ctx.Response.StatusCode()),
		slog.String("error", string(code)),
		slog.String("validator", string(hotkey)),
		slog.Duration("duration", time.Since(start)),
	)
}
