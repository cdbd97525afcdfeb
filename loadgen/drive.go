package loadgen

import (
	"bufio"
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// worker is one sender: its reused request and response, its counts, and
// scratch space. Only its own goroutine touches it during a phase.
type worker struct {
	req  *fasthttp.Request
	resp *fasthttp.Response
	t    *tally
	buf  []byte        // decrypted answers
	br   *bufio.Reader // answers on raw connections
}

func newWorkers(n int, init func(*fasthttp.Request)) []*worker {
	ws := make([]*worker, n)
	for i := range ws {
		ws[i] = &worker{req: new(fasthttp.Request), resp: new(fasthttp.Response), t: newTally()}
		if init != nil {
			init(ws[i].req)
		}
	}
	return ws
}

// collect merges the workers' counts and gives each a fresh tally.
func collect(ws []*worker) *tally {
	all := newTally()
	for _, w := range ws {
		all.merge(w.t)
		w.t = newTally()
	}
	return all
}

// op sends one operation on a worker and records it; latency runs from the
// given time.
type op[T any] func(w *worker, it *T, from time.Time)

// closedLoop runs every worker back to back, each sending its next
// operation as soon as the last one was answered, until until or until
// ctx is done or the supply runs out. cs holds each worker's cursor and is
// kept across calls. It returns how long the loop ran and any signing
// failure.
func closedLoop[T any](ctx context.Context, ws []*worker, cs []cursor[T], s *supply[T], until time.Time, do op[T]) (time.Duration, error) {
	start := time.Now()
	phase, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() {
			for phase.Err() == nil {
				it, err := cs[i].next(phase, s)
				if err != nil {
					if !errors.Is(err, errExhausted) && phase.Err() == nil {
						errs[i] = err
					}
					return
				}
				do(w, it, time.Now())
			}
		})
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}

// fixedRate issues operations at rate per second for d, on a schedule that
// does not wait for answers: operation k is due at start + k/rate, goes to
// the first free worker, and its latency runs from when it was due, so a
// slow target cannot hide its slowness by slowing the schedule down. At
// most len(ws) operations are in flight; those still waiting for a worker
// when d is up are dropped and counted. It returns how long the phase ran
// (to the last answer), the number dropped and any signing failure.
func fixedRate[T any](ctx context.Context, ws []*worker, s *supply[T], rate float64, d time.Duration, do op[T]) (time.Duration, int64, error) {
	type ticket struct {
		it  *T
		due time.Time
	}
	ch := make(chan ticket)
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			for tk := range ch {
				do(w, tk.it, tk.due)
			}
		})
	}
	start := time.Now()
	phase, cancel := context.WithDeadline(ctx, start.Add(d))
	defer cancel()
	total := int64(math.Ceil(rate * d.Seconds()))
	interval := float64(time.Second) / rate
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var c cursor[T]
	var err error
	k := int64(0)
schedule:
	for ; k < total; k++ {
		due := start.Add(time.Duration(float64(k) * interval))
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-phase.Done():
				break schedule
			}
		}
		it, nerr := c.next(phase, s)
		if nerr != nil {
			if !errors.Is(nerr, errExhausted) && phase.Err() == nil {
				err = nerr
			}
			break
		}
		select {
		case ch <- ticket{it, due}:
		case <-phase.Done():
			break schedule
		}
	}
	close(ch)
	wg.Wait()
	dropped := total - k
	if ctx.Err() != nil {
		dropped = 0 // interrupted: the rest was never meant to be sent
	}
	return time.Since(start), dropped, err
}
