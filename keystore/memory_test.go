package keystore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/fernet"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func validator(i int) [32]byte {
	return sha256.Sum256([]byte(fmt.Sprint("validator ", i)))
}

func newKey(t testing.TB, seed string) *fernet.Key {
	t.Helper()
	raw := sha256.Sum256([]byte(seed))
	k, err := fernet.NewKey(raw[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func entry(t testing.TB, v int, uuid string) *Entry {
	return &Entry{Validator: validator(v), UUID: uuid, Key: newKey(t, fmt.Sprint(v, uuid))}
}

func TestPutRejects(t *testing.T) {
	m := NewMemory(MemoryOptions{TTL: time.Hour})
	good := entry(t, 1, "u")
	tests := []struct {
		name string
		e    *Entry
		want error
	}{
		{"nil entry", nil, ErrInvalidEntry},
		{"nil key", &Entry{Validator: validator(1), UUID: "u"}, ErrInvalidEntry},
		{"empty uuid", &Entry{Validator: validator(1), Key: good.Key}, ErrInvalidEntry},
		{"uuid too long", &Entry{Validator: validator(1), UUID: strings.Repeat("a", MaxUUIDLen+1), Key: good.Key}, ErrInvalidEntry},
		{"zero validator", &Entry{UUID: "u", Key: good.Key}, ErrInvalidEntry},
		{"already expired", &Entry{Validator: validator(1), UUID: "u", Key: good.Key, Expires: t0}, ErrExpired},
		{"created a TTL ago", &Entry{Validator: validator(1), UUID: "u", Key: good.Key, Created: t0.Add(-time.Hour)}, ErrExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := m.Put(tc.e, t0); !errors.Is(err, tc.want) {
				t.Errorf("Put: got %v, want %v", err, tc.want)
			}
			if m.Len() != 0 {
				t.Errorf("Len after a refused Put: got %d, want 0", m.Len())
			}
		})
	}
	long := &Entry{Validator: validator(1), UUID: strings.Repeat("a", MaxUUIDLen), Key: good.Key}
	if err := m.Put(long, t0); err != nil {
		t.Errorf("Put with a uuid of MaxUUIDLen bytes: got %v, want nil", err)
	}
}

func TestGetExpiry(t *testing.T) {
	m := NewMemory(MemoryOptions{TTL: time.Hour})
	e := entry(t, 1, "u")
	if err := m.Put(e, t0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		now  time.Time
		ok   bool
	}{
		{"at put", t0, true},
		{"just before expiry", t0.Add(time.Hour - time.Nanosecond), true},
		{"at expiry", t0.Add(time.Hour), false},
		{"after expiry", t0.Add(2 * time.Hour), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := get(m, e.Validator, []byte("u"), tc.now)
			if ok != tc.ok {
				t.Fatalf("Get at %v: got ok %v, want %v", tc.now, ok, tc.ok)
			}
			if ok && got.Key != e.Key {
				t.Errorf("Get: got a different key")
			}
			if !ok && got != nil {
				t.Errorf("Get of absent entry: got %v, want nil", got)
			}
		})
	}
	// Expired entries are still counted until swept.
	if m.Len() != 1 {
		t.Errorf("Len before Sweep: got %d, want 1", m.Len())
	}
	if _, ok := get(m, e.Validator, []byte("other"), t0); ok {
		t.Error("Get of another uuid: got ok")
	}
	if _, ok := get(m, validator(2), []byte("u"), t0); ok {
		t.Error("Get of another validator: got ok")
	}
}

func TestPutStoresCopyAndSetsTimes(t *testing.T) {
	m := NewMemory(MemoryOptions{TTL: time.Hour})
	e := entry(t, 1, "u")
	e.Expires = t0.Add(100 * time.Hour) // over the TTL: capped
	if err := m.Put(e, t0); err != nil {
		t.Fatal(err)
	}
	e.UUID = "changed"
	got, ok := get(m, validator(1), []byte("u"), t0)
	if !ok {
		t.Fatal("Put did not copy the entry: changing the caller's value moved it")
	}
	if !got.Created.Equal(t0) || !got.Expires.Equal(t0.Add(time.Hour)) {
		t.Errorf("got Created %v Expires %v, want %v and %v", got.Created, got.Expires, t0, t0.Add(time.Hour))
	}
	short := entry(t, 1, "short")
	short.Expires = t0.Add(time.Minute)
	if err := m.Put(short, t0); err != nil {
		t.Fatal(err)
	}
	if got, _ := get(m, validator(1), []byte("short"), t0); !got.Expires.Equal(t0.Add(time.Minute)) {
		t.Errorf("a shorter Expires was not kept: got %v", got.Expires)
	}
}

func TestPutReplaces(t *testing.T) {
	m := NewMemory(MemoryOptions{})
	first, second := entry(t, 1, "u"), entry(t, 1, "u")
	second.Key = newKey(t, "second")
	m.Put(first, t0)
	if err := m.Put(second, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, ok := get(m, validator(1), []byte("u"), t0.Add(time.Minute))
	if !ok || got.Key != second.Key {
		t.Fatalf("after re-exchange: got %v, %v; want the second key", got, ok)
	}
	if !got.Created.Equal(t0.Add(time.Minute)) {
		t.Errorf("replaced entry Created: got %v, want %v", got.Created, t0.Add(time.Minute))
	}
	if m.Len() != 1 {
		t.Errorf("Len after replace: got %d, want 1", m.Len())
	}
}

func TestCapEvictsOldest(t *testing.T) {
	m := NewMemory(MemoryOptions{MaxPerValidator: 3})
	for i := range 3 {
		if err := m.Put(entry(t, 1, fmt.Sprint("u", i)), t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	// Refreshing u0 makes u1 the oldest.
	m.Put(entry(t, 1, "u0"), t0.Add(10*time.Second))
	m.Put(entry(t, 2, "other"), t0) // another validator is not affected
	m.Put(entry(t, 1, "u3"), t0.Add(11*time.Second))
	now := t0.Add(12 * time.Second)
	for uuid, want := range map[string]bool{"u0": true, "u1": false, "u2": true, "u3": true} {
		if _, ok := get(m, validator(1), []byte(uuid), now); ok != want {
			t.Errorf("after the cap: Get %s got %v, want %v", uuid, ok, want)
		}
	}
	if _, ok := get(m, validator(2), []byte("other"), now); !ok {
		t.Error("cap of validator 1 evicted validator 2's key")
	}
	if m.Len() != 4 {
		t.Errorf("Len: got %d, want 4", m.Len())
	}
}

func TestDelete(t *testing.T) {
	m := NewMemory(MemoryOptions{})
	m.Put(entry(t, 1, "a"), t0)
	m.Put(entry(t, 1, "b"), t0)
	m.Delete(validator(1), []byte("a"))
	m.Delete(validator(1), []byte("missing"))
	m.Delete(validator(9), []byte("a"))
	if _, ok := get(m, validator(1), []byte("a"), t0); ok {
		t.Error("Get after Delete: got ok")
	}
	if _, ok := get(m, validator(1), []byte("b"), t0); !ok {
		t.Error("Delete removed a sibling")
	}
	if m.Len() != 1 {
		t.Errorf("Len: got %d, want 1", m.Len())
	}
}

func TestSweep(t *testing.T) {
	m := NewMemory(MemoryOptions{TTL: time.Hour, Shards: 4})
	for i := range 10 {
		m.Put(entry(t, i, "old"), t0)
		m.Put(entry(t, i, "new"), t0.Add(30*time.Minute))
	}
	before := m.changeCount()
	if got := m.Sweep(t0.Add(59 * time.Minute)); got != 0 {
		t.Errorf("Sweep before expiry: removed %d, want 0", got)
	}
	if m.changeCount() != before {
		t.Error("a Sweep that removed nothing counted as a change")
	}
	if got := m.Sweep(t0.Add(time.Hour)); got != 10 {
		t.Errorf("Sweep: removed %d, want 10", got)
	}
	if m.Len() != 10 {
		t.Errorf("Len after Sweep: got %d, want 10", m.Len())
	}
	if m.changeCount() == before {
		t.Error("Sweep that removed entries did not count as a change")
	}
	if got := m.Sweep(t0.Add(2 * time.Hour)); got != 10 || m.Len() != 0 {
		t.Errorf("second Sweep: removed %d, Len %d; want 10, 0", got, m.Len())
	}
}

func TestRunSweepsUntilDone(t *testing.T) {
	m := NewMemory(MemoryOptions{TTL: time.Hour})
	// Put two hours ago: expired an hour ago by the real clock Run uses.
	if err := m.Put(entry(t, 1, "u"), time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx, 5*time.Millisecond); close(done) }()
	deadline := time.After(5 * time.Second)
	for m.Len() != 0 {
		select {
		case <-deadline:
			t.Fatal("Run did not sweep the expired entry within 5s")
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func TestEntriesAndRestore(t *testing.T) {
	m := NewMemory(MemoryOptions{TTL: time.Hour})
	m.Put(entry(t, 2, "b"), t0)
	m.Put(entry(t, 1, "a"), t0)
	m.Put(entry(t, 1, "old"), t0.Add(-50*time.Minute))
	got := m.Entries(t0.Add(20 * time.Minute))
	if len(got) != 2 {
		t.Fatalf("Entries: got %d, want 2 (one expired)", len(got))
	}
	got[0].UUID = "mutated"
	if _, ok := get(m, got[0].Validator, []byte("mutated"), t0); ok {
		t.Error("Entries returned the stored entries, not copies")
	}

	all := m.Entries(t0)
	r := NewMemory(MemoryOptions{TTL: time.Hour})
	n, err := r.Restore(append(all, nil, &Entry{Validator: validator(3), UUID: "x"}), t0.Add(20*time.Minute))
	if n != 2 {
		t.Errorf("Restore: stored %d, want 2 (one expired)", n)
	}
	if !errors.Is(err, ErrInvalidEntry) || strings.Count(err.Error(), "restoring entry") != 2 {
		t.Errorf("Restore: got error %v, want two ErrInvalidEntry", err)
	}
	e, ok := get(r, validator(2), []byte("b"), t0.Add(20*time.Minute))
	if !ok || !e.Created.Equal(t0) || !e.Expires.Equal(t0.Add(time.Hour)) {
		t.Errorf("restored entry: got %+v, %v; want Created and Expires kept", e, ok)
	}
}

func TestGetDoesNotAllocate(t *testing.T) {
	m := NewMemory(MemoryOptions{})
	m.Put(entry(t, 1, "uuid"), t0)
	v, u := validator(1), []byte("uuid")
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := get(m, v, u, t0); !ok {
			t.Fatal("Get: not found")
		}
	})
	if allocs != 0 {
		t.Errorf("Get: got %v allocations, want 0", allocs)
	}
}

func TestConcurrent(t *testing.T) {
	m := NewMemory(MemoryOptions{TTL: time.Minute, MaxPerValidator: 4, Shards: 8})
	keys := make([]*fernet.Key, 8)
	for i := range keys {
		keys[i] = newKey(t, fmt.Sprint(i))
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				now := t0.Add(time.Duration(i) * time.Second)
				v, u := validator(i%16), fmt.Sprint("u", (i+w)%6)
				switch i % 4 {
				case 0, 1:
					m.Put(&Entry{Validator: v, UUID: u, Key: keys[i%8]}, now)
				case 2:
					if e, ok := get(m, v, []byte(u), now); ok && (e.Validator != v || e.UUID != u) {
						t.Errorf("Get(%x, %s) returned the entry of %x, %s", v[:4], u, e.Validator[:4], e.UUID)
					}
				case 3:
					m.Delete(v, []byte(u))
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			m.Sweep(t0.Add(time.Duration(i) * time.Second))
			m.Entries(t0)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if n, held := m.Len(), len(m.Entries(time.Time{})); n != held {
		t.Errorf("Len %d disagrees with the %d entries held", n, held)
	}
	for i := range 16 {
		count := 0
		for _, e := range m.Entries(time.Time{}) {
			if e.Validator == validator(i) {
				count++
			}
		}
		if count > 4 {
			t.Errorf("validator %d holds %d keys, over the cap of 4", i, count)
		}
	}
}

func TestShardsRounded(t *testing.T) {
	for _, tc := range []struct{ in, want int }{{0, DefaultShards}, {1, 1}, {3, 4}, {64, 64}, {65, 128}} {
		if got := len(NewMemory(MemoryOptions{Shards: tc.in}).shards); got != tc.want {
			t.Errorf("Shards %d: got %d shards, want %d", tc.in, got, tc.want)
		}
	}
}

// get is Store.Get as (entry, found), for table tests.
func get(s Store, v [32]byte, uuid []byte, now time.Time) (*Entry, bool) {
	e, err := s.Get(v, uuid, now)
	return e, err == nil
}
