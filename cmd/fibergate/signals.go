package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// What serve does with each signal it can be sent (docs/faults.md, Signals). Go's
// defaults would end the process on SIGHUP without the shutdown that saves
// the keys, and on SIGPIPE when the log reader goes away.
var (
	// stopSignals end serving gracefully: in-flight requests get
	// shutdown_grace, then the replay guard and the key snapshot are
	// saved. A second one cuts the grace short; the saves still happen.
	// SIGQUIT is among them because some process managers stop services
	// with it; a goroutine dump is not worth losing the keys over.
	stopSignals = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT}
	// reloadSignals re-read the validator list now: the nodes file and
	// the chain.
	reloadSignals = []os.Signal{syscall.SIGHUP}
	// ignoredSignals are logged and otherwise ignored. SIGPIPE comes from
	// a closed log pipe or socket: the write fails with EPIPE instead.
	ignoredSignals = []os.Signal{syscall.SIGPIPE, syscall.SIGUSR1, syscall.SIGUSR2}
)

// signals receives every signal serve handles, from the moment it is made:
// before the config is even read, so that no signal meets Go's default.
type signals struct {
	stop   chan os.Signal
	reload chan os.Signal
	ignore chan os.Signal
}

func notifySignals() *signals {
	s := &signals{
		stop:   make(chan os.Signal, 2),
		reload: make(chan os.Signal, 1),
		ignore: make(chan os.Signal, 4),
	}
	signal.Notify(s.stop, stopSignals...)
	signal.Notify(s.reload, reloadSignals...)
	signal.Notify(s.ignore, ignoredSignals...)
	return s
}

// Stop ends the delivery of signals to s.
func (s *signals) Stop() {
	signal.Stop(s.stop)
	signal.Stop(s.reload)
	signal.Stop(s.ignore)
}

// stopped returns a context cancelled at the first stop signal, and logs
// ignored signals, until ctx is done. A reload arriving before serve
// watches for them waits in its channel.
func (s *signals) stopped(ctx context.Context, log *slog.Logger) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case sig := <-s.stop:
				log.Info("signal received: shutting down", "signal", sig.String())
				cancel()
				return
			case sig := <-s.ignore:
				log.Info("signal ignored", "signal", sig.String())
			}
		}
	}()
	return ctx
}

// stopChan and reloadChan return the channels of stop and reload signals;
// nil (never ready) for a nil s.
func (s *signals) stopChan() <-chan os.Signal {
	if s == nil {
		return nil
	}
	return s.stop
}

func (s *signals) reloadChan() <-chan os.Signal {
	if s == nil {
		return nil
	}
	return s.reload
}
