package ratelimit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLimitBurstThenRate(t *testing.T) {
	l := New(Rate{PerSecond: 10, Burst: 3})
	now := time.Unix(1000, 0)
	for i := range 3 {
		if ok, _ := l.Allow(now); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.Allow(now)
	if ok {
		t.Fatal("a 4th request at once was allowed with burst 3")
	}
	if wait <= 0 || wait > 100*time.Millisecond {
		t.Errorf("retry after %v, want (0, 100ms]", wait)
	}
	if ok, _ := l.Allow(now.Add(wait)); !ok {
		t.Errorf("refused after waiting the advised %v", wait)
	}
	// Sustained: one every 100 ms passes, two in that time do not.
	now = now.Add(time.Hour)
	for range 3 {
		l.Allow(now)
	}
	passed := 0
	for i := range 100 {
		if ok, _ := l.Allow(now.Add(time.Duration(i) * 50 * time.Millisecond)); ok {
			passed++
		}
	}
	if passed < 49 || passed > 52 {
		t.Errorf("at 20/s against 10/s, %d of 100 passed, want about 50", passed)
	}
}

func TestUnlimited(t *testing.T) {
	for _, r := range []Rate{{}, {PerSecond: 0, Burst: 5}, {PerSecond: -1}} {
		l := New(r)
		for range 1000 {
			if ok, _ := l.Allow(time.Unix(0, 0)); !ok {
				t.Fatalf("rate %+v refused", r)
			}
		}
	}
}

func TestConcurrentExactBurst(t *testing.T) {
	l := New(Rate{PerSecond: 1, Burst: 100})
	now := time.Unix(5000, 0)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if a, _ := l.Allow(now); a {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if ok.Load() != 100 {
		t.Errorf("%d of 800 simultaneous requests passed, want exactly the burst of 100", ok.Load())
	}
}

func TestTableSeparatesKeys(t *testing.T) {
	tb := NewTable(Rate{PerSecond: 1, Burst: 2}, 1<<16)
	now := time.Unix(0, 0)
	tb.Allow([]byte("10.0.0.1"), now)
	tb.Allow([]byte("10.0.0.1"), now)
	if ok, _ := tb.Allow([]byte("10.0.0.1"), now); ok {
		t.Error("the flooding address was not limited")
	}
	if ok, _ := tb.Allow([]byte("10.0.0.2"), now); !ok {
		t.Error("another address was limited by the first one's flood")
	}
	if n := testing.AllocsPerRun(100, func() { tb.Allow([]byte("10.0.0.3"), now) }); n != 0 {
		t.Errorf("Table.Allow allocates %v times", n)
	}
}

func TestKeyedBounded(t *testing.T) {
	k := NewKeyed(Rate{PerSecond: 1, Burst: 1}, 10)
	now := time.Unix(0, 0)
	for i := range 100 {
		k.Allow([32]byte{byte(i), 1}, now)
	}
	if k.Len() != 10 {
		t.Errorf("held %d keys, want the cap of 10", k.Len())
	}
	var a [32]byte
	a[0] = 3
	a[1] = 1
	if ok, _ := k.Allow(a, now); ok {
		t.Error("a key over its limit was allowed")
	}
	if ok, _ := k.Allow([32]byte{200}, now.Add(2*time.Second)); !ok {
		t.Error("a fresh key was refused")
	}
}

func BenchmarkLimitParallel(b *testing.B) {
	l := New(Rate{PerSecond: 1e9, Burst: 1e6})
	b.RunParallel(func(pb *testing.PB) {
		now := time.Now()
		for pb.Next() {
			l.Allow(now)
		}
	})
}

func BenchmarkKeyedParallel(b *testing.B) {
	k := NewKeyed(Rate{PerSecond: 1e9, Burst: 1e6}, 4096)
	b.RunParallel(func(pb *testing.PB) {
		now := time.Now()
		var key [32]byte
		i := 0
		for pb.Next() {
			key[0], key[1] = byte(i), byte(i>>8)
			k.Allow(key, now)
			i = (i + 1) & 1023
		}
	})
}
