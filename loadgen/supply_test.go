package loadgen

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable protocol clock.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// counter builds batches of consecutive numbers and records the stock
// each batch was built at.
type counter struct {
	mu      sync.Mutex
	next    int
	stocks  []int64
	failAt  int // fail the failAt-th batch (1-based); 0 never
	batches int
	s       *supply[int]
}

func (c *counter) build(n int, _ time.Time) ([]int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches++
	if c.batches == c.failAt {
		return nil, errors.New("signer broke")
	}
	c.stocks = append(c.stocks, c.s.stock.Load())
	out := make([]int, n)
	for i := range out {
		out[i] = c.next
		c.next++
	}
	return out, nil
}

func newCounted(size, maxItems int, maxAge time.Duration, clk *fakeClock) (*supply[int], *counter) {
	c := &counter{}
	c.s = newSupply(size, maxItems, maxAge, clk.Now, c.build)
	return c.s, c
}

// drain takes every item with one cursor until an error.
func drain(ctx context.Context, s *supply[int]) ([]int, error) {
	var c cursor[int]
	var got []int
	for {
		it, err := c.next(ctx, s)
		if err != nil {
			return got, err
		}
		got = append(got, *it)
	}
}

func TestSupplyFillsUpToTotal(t *testing.T) {
	clk := &fakeClock{}
	s, _ := newCounted(4, 100, time.Minute, clk)
	s.setPlan(50, 0, 10)
	if err := s.fill(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	got, err := drain(context.Background(), s)
	if !errors.Is(err, errExhausted) {
		t.Fatalf("after the total: got %v, want errExhausted", err)
	}
	if len(got) != 10 {
		t.Fatalf("got %d items, want the total of 10", len(got))
	}
	seen := map[int]bool{}
	for _, v := range got {
		seen[v] = true
	}
	if len(seen) != 10 {
		t.Errorf("got %v, want 10 distinct items", got)
	}
	if sg := s.signing(); sg.Ahead != 10 || sg.DuringRun != 0 || sg.Expired != 0 {
		t.Errorf("signing: got %+v, want 10 ahead", sg)
	}
}

func TestSupplyDropsStaleBatches(t *testing.T) {
	clk := &fakeClock{}
	s, _ := newCounted(4, 100, 10*time.Second, clk)
	s.setPlan(12, 0, -1)
	if err := s.fill(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	var c cursor[int]
	for range 2 { // half of the first batch
		if _, err := c.next(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(10 * time.Second) // exactly the age limit: still usable
	if _, err := c.next(context.Background(), s); err != nil {
		t.Fatalf("at the age limit: %v", err)
	}
	clk.Advance(time.Nanosecond)
	_, err := c.next(context.Background(), s)
	if !errors.Is(err, errExhausted) {
		t.Fatalf("past the age limit: got %v, want errExhausted", err)
	}
	if got := s.signing().Expired; got != 9 {
		t.Errorf("expired: got %d, want the 9 unused", got)
	}
}

func TestSupplyRollsInTheBackground(t *testing.T) {
	clk := &fakeClock{}
	s, c := newCounted(4, 1000, time.Minute, clk)
	s.setPlan(8, 4, 40)
	if err := s.fill(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.start(ctx)
	got, err := drain(ctx, s)
	s.wait()
	if !errors.Is(err, errExhausted) {
		t.Fatalf("after the total: got %v, want errExhausted", err)
	}
	if len(got) != 40 {
		t.Fatalf("got %d items, want 40", len(got))
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("item %d: got %d, want them oldest first", i, v)
		}
	}
	if sg := s.signing(); sg.Ahead != 8 || sg.DuringRun != 32 {
		t.Errorf("signing: got %+v, want 8 ahead and 32 during the run", sg)
	}
	// The background signer only ever signed to keep the stock at the low
	// mark, never piling up more than the high mark.
	for i, st := range c.stocks {
		if i >= 2 && st >= 4 {
			t.Errorf("batch %d was signed at a stock of %d, want only below the low mark 4", i, st)
		}
	}
}

func TestSupplyWaitsForTheSigner(t *testing.T) {
	clk := &fakeClock{}
	release := make(chan struct{})
	var calls atomic.Int64
	s := newSupply(2, 100, time.Minute, clk.Now, func(n int, _ time.Time) ([]int, error) {
		if calls.Add(1) > 1 {
			<-release
		}
		return make([]int, n), nil
	})
	s.setPlan(2, 1, -1)
	if err := s.fill(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.start(ctx)
	var c cursor[int]
	for range 2 {
		if _, err := c.next(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	time.AfterFunc(50*time.Millisecond, func() { close(release) })
	if _, err := c.next(ctx, s); err != nil {
		t.Fatalf("waiting for the signer: %v", err)
	}
	cancel()
	s.wait()
	if got := s.signing().Waits; got != 1 {
		t.Errorf("waits: got %d, want 1", got)
	}
}

func TestSupplyReportsSigningFailure(t *testing.T) {
	clk := &fakeClock{}
	s, c := newCounted(2, 100, time.Minute, clk)
	c.failAt = 3
	s.setPlan(4, 2, -1)
	if err := s.fill(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.start(ctx)
	got, err := drain(ctx, s)
	s.wait()
	if err == nil || err.Error() != "signer broke" {
		t.Fatalf("got %v, want the signer's error", err)
	}
	if len(got) != 4 {
		t.Errorf("got %d items before the failure, want the 4 signed", len(got))
	}
}

func TestPlanFor(t *testing.T) {
	const usable = 90 * time.Second
	tests := []struct {
		name                  string
		rate                  float64
		duration, ahead       time.Duration
		size, capacity, slack int64
		fixed                 bool
		want                  plan
	}{
		// A short fixed-rate run: everything up front, the exact total.
		{"short fixed", 100, 30 * time.Second, 10 * time.Second, 16, 1e6, 16, true, plan{high: 3016, low: 100, total: 3016}},
		// A short closed loop: everything the estimate says, a refill only
		// if it falls to a second's worth, no total.
		{"short closed", 1000, 10 * time.Second, 10 * time.Second, 128, 1e6, 1024, false, plan{high: 11024, low: 1000, total: -1}},
		// Memory caps the stock: refill from half of it.
		{"capped", 1000, 30 * time.Second, 10 * time.Second, 128, 5000, 0, false, plan{high: 5000, low: 2500, total: -1}},
		// A soak: ten seconds ahead, a batch signed as each is used.
		{"long fixed", 200, 10 * time.Minute, 10 * time.Second, 25, 1e6, 25, true, plan{high: 2050, low: 2025, total: 120025}},
		// Ahead never goes past half the usable age.
		{"ahead clamped", 100, 10 * time.Minute, 5 * time.Minute, 16, 1e6, 0, true, plan{high: 4516, low: 4500, total: 60000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := planFor(tc.rate, tc.duration, usable, tc.ahead, tc.size, tc.capacity, tc.fixed, tc.slack)
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
