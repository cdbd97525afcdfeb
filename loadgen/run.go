package loadgen

import (
	"context"
	"runtime"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// Run drives the target as opts says and returns what it measured.
//
// Setup comes first and is not measured: every simulated validator
// exchanges a key (flood and request modes; plain mode has none), a closed loop warms up to
// estimate the target's throughput, and operations are signed ahead (see
// Signing). Then the measured phase runs for opts.Duration. Run returns an
// error, and no Result, when setup fails: bad options, an unreachable
// target, a target that refuses the validators' handshakes. Refusals during
// the measured phase are counted in the Result, not returned. A signing
// failure during the measured phase ends it and is returned with the
// Result so far. Cancelling ctx ends the measured phase early; the Result
// then says Interrupted.
func Run(ctx context.Context, opts Options) (*Result, error) {
	u, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	setupStart := time.Now()
	t := newTarget(u, opts.Concurrency+8, opts.Timeout)
	defer t.hc.CloseIdleConnections()
	base := strings.TrimSuffix(opts.URL, "/")
	res := &Result{
		Target:      base + opts.Path,
		Mode:        ModeRequests,
		Loop:        LoopClosed,
		Validators:  opts.Validators,
		Concurrency: opts.Concurrency,
		Rate:        opts.Rate,
	}
	if opts.Rate > 0 {
		res.Loop = LoopFixedRate
	}
	if opts.Plain {
		res.Mode, res.Validators = ModePlain, 0
		ps, err := newPlainSender(&opts, t)
		if err != nil {
			return nil, err
		}
		s := newSupply(batchSize(&opts, 128), maxItems(&opts, ps.itemBytes()), opts.usableAge(), opts.Now, ps.build)
		ws := newWorkers(opts.Concurrency, ps.init)
		return res, phases(ctx, &opts, res, s, ws, ps.do, int64(max(2048, 32*opts.Concurrency)), setupStart)
	}
	ids, err := identities(opts.SeedPrefix, opts.Validators)
	if err != nil {
		return nil, err
	}

	if opts.HandshakesOnly {
		res.Mode, res.Target = ModeHandshakes, base
		hs, err := newHandshaker(&opts, t, ids)
		if err != nil {
			return nil, err
		}
		s := newSupply(batchSize(&opts, 16), maxItems(&opts, hs.itemBytes()), opts.usableAge(), opts.Now, hs.build)
		ws := newWorkers(opts.Concurrency, nil)
		return res, phases(ctx, &opts, res, s, ws, hs.do, int64(max(256, 16*opts.Concurrency)), setupStart)
	}

	sessions, took, err := setupSessions(ctx, &opts, ids)
	if err != nil {
		return nil, err
	}
	res.Setup.Handshakes = len(sessions)
	if took > 0 {
		res.Setup.HandshakesPerSec = float64(len(sessions)) / took.Seconds()
	}

	if opts.Flood {
		res.Mode, res.Target = ModeFlood, base
		res.Flood = &FloodResult{}
		hs, err := newHandshaker(&opts, t, ids)
		if err != nil {
			return nil, err
		}
		f, err := newFlooder(&opts, t, sessions, hs)
		if err != nil {
			return nil, err
		}
		if err := f.refreshExchange(new(fasthttp.Request), new(fasthttp.Response)); err != nil {
			return nil, err
		}
		s := newSupply(batchSize(&opts, 16), maxItems(&opts, f.itemBytes()), opts.usableAge(), opts.Now, f.build)
		ws := newWorkers(opts.Concurrency, nil)
		rctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			f.refresh(rctx)
		}()
		err = phases(ctx, &opts, res, s, ws, f.do, 0, setupStart)
		stop()
		<-done
		res.Flood.Exchanges, res.Flood.ExchangeErrors = f.exOK.Load(), f.exFailed.Load()
		return res, err
	}

	rq, err := newRequester(&opts, t, sessions)
	if err != nil {
		return nil, err
	}
	s := newSupply(batchSize(&opts, 128), maxItems(&opts, rq.itemBytes()), opts.usableAge(), opts.Now, rq.build)
	ws := newWorkers(opts.Concurrency, rq.init)
	return res, phases(ctx, &opts, res, s, ws, rq.do, int64(max(2048, 32*opts.Concurrency)), setupStart)
}

// batchSize is the number of operations signed together: an eighth of a
// second's worth at a fixed rate (16 to 1024), closed otherwise.
func batchSize(o *Options, closed int) int {
	if o.Rate > 0 {
		return int(min(max(o.Rate/8, 16), 1024))
	}
	return closed
}

// maxItems is the most pre-signed operations of itemBytes each to hold.
func maxItems(o *Options, itemBytes int) int {
	if o.MaxPresigned > 0 {
		return o.MaxPresigned
	}
	return DefaultMaxPresignBytes / max(itemBytes, 1)
}

// phases runs a closed loop's warmup (which sizes the signing ahead), signs
// ahead, runs the measured phase with a background signer, and fills res.
// warmItems is how many operations the warmup may use.
func phases[T any](ctx context.Context, o *Options, res *Result, s *supply[T], ws []*worker, do op[T], warmItems int64, setupStart time.Time) error {
	parallel := runtime.GOMAXPROCS(0)
	size := int64(s.size)
	cs := make([]cursor[T], len(ws))
	var p plan
	if o.Rate > 0 {
		p = planFor(o.Rate, o.Duration, o.usableAge(), o.Ahead, size, s.capacity(), true, size)
	} else {
		rate := float64(len(ws)) * 50 // a guess, for want of a warmup
		if o.Warmup > 0 {
			s.setPlan(warmItems, 0, -1)
			if err := s.fill(ctx, parallel); err != nil {
				return err
			}
			took, err := closedLoop(ctx, ws, cs, s, time.Now().Add(o.Warmup), do)
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			warm := collect(ws)
			res.Setup.WarmupOps = warm.ops
			if warm.ops > 0 && took > 0 {
				rate = float64(warm.ops) / took.Seconds()
				res.Setup.EstimatedRate = rate
			}
		}
		// Half as much again as the warmup showed: a warm target is often
		// faster. Workers may each leave a batch unused at the end.
		p = planFor(rate*1.5, o.Duration, o.usableAge(), o.Ahead, size, s.capacity(), false, int64(len(ws))*size)
	}
	s.setPlan(p.high, p.low, p.total)
	if err := s.fill(ctx, parallel); err != nil {
		return err
	}
	res.Setup.Seconds = time.Since(setupStart).Seconds()

	runCtx, stop := context.WithCancel(ctx)
	s.start(runCtx)
	var elapsed time.Duration
	var err error
	if o.Rate > 0 {
		elapsed, res.Dropped, err = fixedRate(ctx, ws, s, o.Rate, o.Duration, do)
	} else {
		elapsed, err = closedLoop(ctx, ws, cs, s, time.Now().Add(o.Duration), do)
	}
	stop()
	s.wait()
	res.Interrupted = ctx.Err() != nil
	collect(ws).fill(res, elapsed)
	res.Signing = s.signing()
	return err
}
