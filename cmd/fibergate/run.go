package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/fibergate/fibergate/metrics"
	"github.com/fibergate/fibergate/proxy"
	"github.com/valyala/fasthttp"
)

// serving is what runServer needs of a command.
type serving struct {
	srv   *fasthttp.Server
	ln    net.Listener
	admin *http.Server // nil without admin_listen
	grace time.Duration
	sigs  *signals
	log   *slog.Logger
	// acceptError counts a failed accept, by reason.
	acceptError func(reason string)
	// reload runs on each reload signal.
	reload func()
}

// runServer serves until ctx is done (a stop signal) or the server fails,
// running s.reload on each reload signal meanwhile; then it shuts the
// server and the admin listener down gracefully within s.grace, a second
// stop signal cutting the grace short. The listener backs off on a full
// descriptor table instead of ending the server. It returns the server's
// failure, if any: the caller saves its state after it, however it ended.
func runServer(ctx context.Context, s serving) error {
	serveErr := make(chan error, 1)
	acceptWarn := newThrottledWarn(s.log.With("component", "listener"), backendLogEvery)
	go func() {
		serveErr <- s.srv.Serve(proxy.NewListener(s.ln, proxy.ListenerOptions{
			OnError: func(err error, fdLimit bool, wait time.Duration) {
				reason := metrics.AcceptOther
				if fdLimit {
					reason = metrics.AcceptFDLimit
				}
				s.acceptError(reason)
				acceptWarn.warn("accepting a connection failed; accepting again shortly, serving the connections held",
					"reason", reason, "err", err, "retry_in", wait.String())
			},
		}))
	}()
	var failed error
	for done := false; !done; {
		select {
		case err := <-serveErr:
			// Shut down the same way as for a signal, so state is saved.
			failed = fmt.Errorf("serving: %w", err)
			s.log.Error("the server stopped; shutting down", "err", err)
			done = true
		case <-ctx.Done():
			done = true
		case <-s.sigs.reloadChan():
			s.reload()
		}
	}

	s.log.Info("shutting down", "grace", s.grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.grace)
	defer cancel()
	// A second signal cuts the grace short: connections close at once,
	// and what the command keeps is still saved.
	go func() {
		select {
		case <-s.sigs.stopChan():
			s.log.Warn("second signal: closing connections now")
			cancel()
		case <-sctx.Done():
		}
	}()
	if err := s.srv.ShutdownWithContext(sctx); err != nil {
		s.log.Warn("shutdown grace ran out; open connections were closed", "err", err)
	}
	if s.admin != nil {
		s.admin.Shutdown(sctx)
	}
	return failed
}
