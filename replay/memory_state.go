package replay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// A Memory's state is saved in one of two forms, both starting with the
// magic, a version byte and a kind byte, then the horizon and the floor
// (int64, little-endian):
//
//   - a horizon record (kind 'H'), written while the guard serves: no
//     nonce it accepted is stamped after the horizon, and that is all a
//     guard that follows a crash can know;
//   - a full state (kind 'C'), written after Stop: the hashing key, the
//     window, the shard count and every bucket (shard uint32, span int64,
//     count uint32, then the hashes, uint64 each), from which a new Memory
//     refuses exactly what the old one would have.
//
// The bytes carry the hashing key; callers keep them sealed (fibergate
// encrypts them under its storage key, as the key snapshot).
const (
	stateMagic   = "FGNG"
	stateVersion = 1
	kindHorizon  = 'H'
	kindFull     = 'C'
	stateHeader  = len(stateMagic) + 2 + 16
)

// ErrStateCorrupt is wrapped by ParseState's errors.
var ErrStateCorrupt = errors.New("replay guard state unreadable")

// State is a Memory's saved state, as ParseState reads it.
type State struct {
	// Full is set for a state saved by Snapshot after Stop; it restores
	// every remembered nonce. Otherwise the state is a horizon record.
	Full bool
	// Horizon bounds the timestamps of every nonce the saved guard
	// accepted (unix ns).
	Horizon int64
	// Floor is the saved guard's floor (unix ns).
	Floor int64

	key     [32]byte
	window  int64
	shards  int
	buckets []savedBucket
}

type savedBucket struct {
	shard  int
	span   int64
	hashes []uint64
}

// HorizonState returns a horizon record: no nonce the guard accepted is
// stamped after horizon, and its floor is floor.
func HorizonState(horizon, floor int64) []byte {
	b := make([]byte, 0, stateHeader)
	return appendHeader(b, kindHorizon, horizon, floor)
}

func appendHeader(b []byte, kind byte, horizon, floor int64) []byte {
	b = append(b, stateMagic...)
	b = append(b, stateVersion, kind)
	b = binary.LittleEndian.AppendUint64(b, uint64(horizon))
	return binary.LittleEndian.AppendUint64(b, uint64(floor))
}

// Snapshot returns the guard's full state, every remembered nonce with
// its bucket, for a Memory of the same window to Restore. The guard must
// be stopped first (Stop), so that nothing it accepts is missing from the
// state; otherwise Snapshot returns an error. The state's horizon is the
// guard's, or, without MemoryOptions.Horizon, the latest timestamp the
// window allowed at stop time: now plus the window.
func (g *Memory) Snapshot(now int64) ([]byte, error) {
	if !g.stopped.Load() {
		return nil, errors.New("replay guard: Snapshot before Stop")
	}
	horizon := g.horizon.Load()
	if g.record == nil {
		horizon = satAdd(now, g.window)
	}
	n := stateHeader + 32 + 8 + 4 + 4 + int(g.n.Load())*8
	b := appendHeader(make([]byte, 0, n), kindFull, horizon, g.floor.Load())
	b = append(b, g.key[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(g.window))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(g.shards)))
	countAt := len(b)
	b = binary.LittleEndian.AppendUint32(b, 0)
	count := uint32(0)
	for i := range g.shards {
		s := &g.shards[i]
		s.mu.Lock()
		for j := range s.ring {
			bk := &s.ring[j]
			if bk.t == nil || bk.n == 0 || g.expired(bk.span, now) {
				continue
			}
			b = binary.LittleEndian.AppendUint32(b, uint32(i))
			b = binary.LittleEndian.AppendUint64(b, uint64(bk.span))
			b = binary.LittleEndian.AppendUint32(b, uint32(bk.n))
			for _, h := range bk.t {
				if h != 0 {
					b = binary.LittleEndian.AppendUint64(b, h)
				}
			}
			count++
		}
		s.mu.Unlock()
	}
	binary.LittleEndian.PutUint32(b[countAt:], count)
	return b, nil
}

// ParseState reads a state written by Snapshot or HorizonState. Any
// malformed input is an error wrapping ErrStateCorrupt.
func ParseState(data []byte) (*State, error) {
	bad := func(what string) (*State, error) {
		return nil, fmt.Errorf("%w: %s", ErrStateCorrupt, what)
	}
	if len(data) < stateHeader || string(data[:4]) != stateMagic {
		return bad("not a replay guard state")
	}
	if data[4] != stateVersion {
		return bad(fmt.Sprintf("format version %d, want %d", data[4], stateVersion))
	}
	st := &State{
		Horizon: int64(binary.LittleEndian.Uint64(data[6:])),
		Floor:   int64(binary.LittleEndian.Uint64(data[14:])),
	}
	rest := data[stateHeader:]
	switch data[5] {
	case kindHorizon:
		if len(rest) != 0 {
			return bad("data after a horizon record")
		}
		return st, nil
	case kindFull:
	default:
		return bad(fmt.Sprintf("unknown kind %q", data[5]))
	}
	st.Full = true
	if len(rest) < 32+8+4+4 {
		return bad("truncated")
	}
	copy(st.key[:], rest)
	st.window = int64(binary.LittleEndian.Uint64(rest[32:]))
	st.shards = int(binary.LittleEndian.Uint32(rest[40:]))
	count := int(binary.LittleEndian.Uint32(rest[44:]))
	rest = rest[48:]
	if st.window <= 0 || st.shards <= 0 || st.shards > maxShards || st.shards&(st.shards-1) != 0 {
		return bad("bad window or shard count")
	}
	// Each bucket takes at least 16 bytes: a count beyond that is a lie
	// that must not size an allocation.
	if count > len(rest)/16 {
		return bad("truncated")
	}
	st.buckets = make([]savedBucket, 0, count)
	for range count {
		if len(rest) < 16 {
			return bad("truncated")
		}
		sb := savedBucket{
			shard: int(binary.LittleEndian.Uint32(rest)),
			span:  int64(binary.LittleEndian.Uint64(rest[4:])),
		}
		n := int(binary.LittleEndian.Uint32(rest[12:]))
		rest = rest[16:]
		if sb.shard >= st.shards || n == 0 || n > len(rest)/8 {
			return bad("bad bucket")
		}
		sb.hashes = make([]uint64, n)
		for i := range sb.hashes {
			sb.hashes[i] = binary.LittleEndian.Uint64(rest[8*i:])
			if sb.hashes[i] == 0 {
				return bad("bad bucket")
			}
		}
		rest = rest[8*n:]
		st.buckets = append(st.buckets, sb)
	}
	if len(rest) != 0 {
		return bad("data after the buckets")
	}
	return st, nil
}

// ErrStateMismatch is wrapped by Restore's errors for a full state that
// this guard cannot take as it is.
var ErrStateMismatch = errors.New("replay guard state does not fit this guard")

// Restore loads a full state saved by Snapshot into g, which must be new
// (nothing remembered yet): afterwards g refuses every nonce the saved
// guard would have refused, with the saved hashing key, and its floor is
// the higher of its own and the saved one. now is the clock (unix ns);
// buckets that left the window by then are skipped. A horizon record, a
// state of another window or shard count, or one the memory budget cannot
// hold is an error wrapping ErrStateMismatch, and leaves g unchanged: the
// caller then falls back on the floor (State.Horizon).
func (g *Memory) Restore(st *State, now int64) error {
	switch {
	case !st.Full:
		return fmt.Errorf("%w: a horizon record holds no nonces", ErrStateMismatch)
	case st.window != g.window:
		return fmt.Errorf("%w: saved with nonce_window %v, now %v", ErrStateMismatch, time.Duration(st.window), time.Duration(g.window))
	case st.shards != len(g.shards):
		return fmt.Errorf("%w: saved with %d shards, now %d", ErrStateMismatch, st.shards, len(g.shards))
	case g.n.Load() != 0:
		return fmt.Errorf("%w: the guard is in use", ErrStateMismatch)
	}
	type placed struct {
		b     *bucket
		t     []uint64
		class uint8
		n     int
	}
	var done []placed
	undo := func() {
		for _, p := range done {
			g.mem.put(p.t, p.class)
			*p.b = bucket{}
		}
	}
	for _, sb := range st.buckets {
		if g.expired(sb.span, now) {
			continue
		}
		s := &g.shards[sb.shard]
		b := &s.ring[mod(sb.span, g.ring)]
		if b.t != nil {
			undo()
			return fmt.Errorf("%w: two saved buckets share a slot", ErrStateMismatch)
		}
		k := classFor(len(sb.hashes))
		t := g.mem.get(k)
		if t == nil {
			undo()
			return fmt.Errorf("%w: replay.max_memory cannot hold the saved nonces", ErrStateMismatch)
		}
		n := 0
		for _, h := range sb.hashes {
			if !tableHas(t, h) {
				tableAdd(t, h)
				n++
			}
		}
		*b = bucket{span: sb.span, t: t, n: int32(n), class: k}
		done = append(done, placed{b: b, t: t, class: k, n: n})
	}
	g.key = st.key
	total := 0
	for _, p := range done {
		total += p.n
	}
	g.n.Add(int64(total))
	for {
		f := g.floor.Load()
		if st.Floor <= f || g.floor.CompareAndSwap(f, st.Floor) {
			break
		}
	}
	return nil
}
