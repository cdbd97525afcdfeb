package loadgen

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// errExhausted means every operation the run needs has been handed out,
// or none is ready and no signer is running.
var errExhausted = errors.New("loadgen: no pre-signed operation left")

// batch is a run of operations signed together.
type batch[T any] struct {
	made  time.Time // protocol-clock time before the first was signed
	items []T
}

// supply holds pre-signed operations in batches, oldest first, and signs
// more: up front (fill) and in the background (start) when the stock runs
// below the low mark. A batch older than maxAge is dropped unused, since
// the target would refuse its nonces. take is safe for concurrent use.
type supply[T any] struct {
	build  func(n int, now time.Time) ([]T, error)
	now    func() time.Time
	maxAge time.Duration
	size   int // operations per batch
	ready  chan *batch[T]

	high, low atomic.Int64 // signing stops at high and starts below low
	total     atomic.Int64 // operations to sign in all; < 0 for no limit

	reserved atomic.Int64 // operations signed or being signed
	stock    atomic.Int64 // operations in ready
	counting atomic.Bool  // signing now counts as during the run

	ahead, duringRun, expired, waits atomic.Int64
	aheadTime                        atomic.Int64 // nanoseconds spent in fill

	wake chan struct{}
	done chan struct{} // closed when no background signer runs

	errMu sync.Mutex
	err   error
}

// newSupply returns an empty supply of batches of size operations holding
// at most maxItems. Nothing is signed until fill or start.
func newSupply[T any](size, maxItems int, maxAge time.Duration, now func() time.Time, build func(int, time.Time) ([]T, error)) *supply[T] {
	size = max(size, 1)
	maxItems = max(maxItems, size)
	s := &supply[T]{
		build:  build,
		now:    now,
		maxAge: maxAge,
		size:   size,
		ready:  make(chan *batch[T], maxItems/size+4),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	close(s.done)
	s.total.Store(-1)
	s.setPlan(int64(maxItems), 0, -1)
	return s
}

// capacity is the most operations the supply holds.
func (s *supply[T]) capacity() int64 { return int64((cap(s.ready) - 4) * s.size) }

// setPlan sets the marks and the total. Call it only while no signer runs.
func (s *supply[T]) setPlan(high, low, total int64) {
	high = min(max(high, 1), s.capacity())
	s.high.Store(high)
	s.low.Store(min(max(low, 1), high)) // at least 1: an empty stock is always refilled
	s.total.Store(total)
}

// reserve claims up to n operations of the total and returns how many.
func (s *supply[T]) reserve(n int) int {
	for {
		r := s.reserved.Load()
		if t := s.total.Load(); t >= 0 {
			n = int(min(int64(n), t-r))
		}
		if n <= 0 {
			return 0
		}
		if s.reserved.CompareAndSwap(r, r+int64(n)) {
			return n
		}
	}
}

// signOne signs one batch and queues it; false when the total is reached or
// signing failed.
func (s *supply[T]) signOne(ctx context.Context) bool {
	n := s.reserve(s.size)
	if n == 0 {
		return false
	}
	made := s.now()
	items, err := s.build(n, made)
	if err != nil {
		s.fail(err)
		return false
	}
	if s.counting.Load() {
		s.duringRun.Add(int64(len(items)))
	} else {
		s.ahead.Add(int64(len(items)))
	}
	s.stock.Add(int64(len(items)))
	select {
	case s.ready <- &batch[T]{made: made, items: items}:
		return true
	case <-ctx.Done():
		s.stock.Add(-int64(len(items)))
		return false
	}
}

func (s *supply[T]) fail(err error) {
	s.errMu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.errMu.Unlock()
}

func (s *supply[T]) failure() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// fill signs up to the high mark (or the total) with parallel signers and
// returns when done. Call it only while no background signer runs.
func (s *supply[T]) fill(ctx context.Context, parallel int) error {
	start := time.Now()
	need := s.high.Load() - s.stock.Load()
	jobs := make(chan struct{}, max(need/int64(s.size)+1, 0))
	for range max(int(math.Ceil(float64(need)/float64(s.size))), 0) {
		jobs <- struct{}{}
	}
	close(jobs)
	var wg sync.WaitGroup
	for range max(parallel, 1) {
		wg.Go(func() {
			for range jobs {
				if ctx.Err() != nil || !s.signOne(ctx) {
					return
				}
			}
		})
	}
	wg.Wait()
	s.aheadTime.Add(int64(time.Since(start)))
	if err := s.failure(); err != nil {
		return err
	}
	return ctx.Err()
}

// start runs a background signer until ctx is done or the total is
// signed: it signs batches whenever the stock is below the low mark, until
// it is not, and counts what it signs as signed during the run.
func (s *supply[T]) start(ctx context.Context) {
	s.counting.Store(true)
	done := make(chan struct{})
	s.done = done
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			for s.stock.Load() < s.low.Load() {
				if !s.signOne(ctx) {
					return // the total is signed, signing failed or ctx is done
				}
			}
			if s.totalReached() {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			case <-tick.C:
			}
		}
	}()
}

// totalReached reports whether every operation of the total is signed.
func (s *supply[T]) totalReached() bool {
	t := s.total.Load()
	return t >= 0 && s.reserved.Load() >= t
}

// wait blocks until the background signer has stopped.
func (s *supply[T]) wait() { <-s.done }

func (s *supply[T]) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take returns the oldest batch still young enough, waiting for the
// background signer when none is ready. It returns errExhausted when none
// is ready and none will come, the signer's error if it failed, or ctx's.
func (s *supply[T]) take(ctx context.Context) (*batch[T], error) {
	waited := false
	for {
		var b *batch[T]
		select {
		case b = <-s.ready:
		default:
			select {
			case <-s.done:
				// No signer: what is queued is all there is. (A batch
				// queued just before it stopped is still taken.)
				select {
				case b = <-s.ready:
				default:
					if err := s.failure(); err != nil {
						return nil, err
					}
					return nil, errExhausted
				}
			default:
				if !waited {
					s.waits.Add(1)
					waited = true
				}
				s.poke()
				select {
				case b = <-s.ready:
				case <-s.done:
					continue
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
		}
		s.stock.Add(-int64(len(b.items)))
		s.poke()
		if s.stale(b.made) {
			s.expired.Add(int64(len(b.items)))
			continue
		}
		return b, nil
	}
}

// stale reports whether operations signed at made are too old to send.
func (s *supply[T]) stale(made time.Time) bool { return s.now().Sub(made) > s.maxAge }

// signing reports the supply's counters.
func (s *supply[T]) signing() Signing {
	return Signing{
		Ahead:        s.ahead.Load(),
		AheadSeconds: time.Duration(s.aheadTime.Load()).Seconds(),
		DuringRun:    s.duringRun.Load(),
		Expired:      s.expired.Load(),
		Waits:        s.waits.Load(),
	}
}

// cursor walks one consumer's current batch. It is not safe for
// concurrent use: each consumer has its own.
type cursor[T any] struct {
	b *batch[T]
	i int
}

// next returns the next operation, taking a new batch from s when the
// current one is used up or has grown too old.
func (c *cursor[T]) next(ctx context.Context, s *supply[T]) (*T, error) {
	for {
		if c.b != nil && c.i < len(c.b.items) {
			if s.stale(c.b.made) {
				s.expired.Add(int64(len(c.b.items) - c.i))
				c.b = nil
				continue
			}
			it := &c.b.items[c.i]
			c.i++
			return it, nil
		}
		b, err := s.take(ctx)
		if err != nil {
			return nil, err
		}
		c.b, c.i = b, 0
	}
}

// plan is how much to sign ahead for a phase.
type plan struct {
	high, low, total int64
}

// planFor sizes the signing of a phase of duration at rate operations per
// second. A phase short enough for its operations to stay fresh is signed
// up front (high covers it all, and the background signer only steps in
// if rate was an underestimate or memory capped the stock); a longer one
// keeps ahead worth of operations ready, signing a batch as each is used.
// fixed says rate is exact (a fixed-rate run needs exactly its schedule);
// slack covers operations held by consumers and not used.
func planFor(rate float64, duration, usable, ahead time.Duration, size, capacity int64, fixed bool, slack int64) plan {
	n := func(d time.Duration) int64 { return int64(math.Ceil(rate*d.Seconds())) + slack }
	p := plan{total: -1}
	if fixed {
		p.total = n(duration)
	}
	if duration <= usable*2/3 {
		p.high = min(n(duration), capacity)
		if p.high < n(duration) {
			p.low = p.high / 2 // capped by memory: keep signing as it is used
		} else {
			// Only a refill when rate was an underestimate: a second's
			// worth (a quarter of a short phase), never above a quarter of
			// the stock.
			r := int64(math.Ceil(rate * min(time.Second, duration/4).Seconds()))
			p.low = min(max(size, r), p.high/4)
		}
		return p
	}
	// Never further ahead than half the usable age, so a batch is used
	// long before it would be too old.
	p.high = min(n(min(ahead, usable/2))+size, capacity)
	p.low = max(p.high-size, 1)
	return p
}
