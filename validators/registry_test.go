package validators

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/internal/testvectors"
	"github.com/fibergate/fibergate/nodes"
	"github.com/google/go-cmp/cmp"
)

// key returns a distinct test public key and its SS58 address (prefix 42).
func key(b byte) ([32]byte, string) {
	var pub [32]byte
	for i := range pub {
		pub[i] = b ^ byte(i)
	}
	return pub, ss58.Encode(pub, 42)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// nodesJSON writes Fiber's object form for the given hotkeys and stakes.
func nodesJSON(t *testing.T, entries map[string]float64) string {
	t.Helper()
	m := make(map[string]any, len(entries))
	for hk, stake := range entries {
		m[hk] = map[string]any{"hotkey": hk, "coldkey": hk, "node_id": 1, "stake": stake, "ip": "127.0.0.1", "port": 0, "netuid": 1}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustNew(t *testing.T, opts Options) *Registry {
	t.Helper()
	r, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

type reload struct {
	source string
	count  int
	err    error
}

// recorder collects OnReload calls.
type recorder struct {
	mu    sync.Mutex
	calls []reload
	ch    chan reload
}

func newRecorder() *recorder { return &recorder{ch: make(chan reload, 64)} }

func (rc *recorder) on(source string, count int, err error) {
	rc.mu.Lock()
	rc.calls = append(rc.calls, reload{source, count, err})
	rc.mu.Unlock()
	rc.ch <- reload{source, count, err}
}

func (rc *recorder) take() []reload {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := rc.calls
	rc.calls = nil
	for len(rc.ch) > 0 {
		<-rc.ch
	}
	return out
}

func TestStaticOnly(t *testing.T) {
	pa, a := key(1)
	pb, b := key(2)
	r := mustNew(t, Options{Static: []StaticEntry{{a, 5000}, {b, 10}}})
	if got := r.Current().Len(); got != 2 {
		t.Fatalf("Len: got %d, want 2", got)
	}
	v, ok := r.Current().Lookup(pa)
	if want := (Validator{Hotkey: a, PublicKey: pa, Stake: 5000, Source: SourceStatic}); !ok || v != want {
		t.Errorf("Lookup(a): got %+v, %v, want %+v", v, ok, want)
	}
	if v, err := r.Check(pb, 10); err != nil || v.Stake != 10 {
		t.Errorf("Check(b, 10): got %+v, %v, want stake 10 accepted", v, err)
	}
	if err := r.Run(context.Background()); err != nil {
		t.Errorf("Run with no nodes file: got %v, want nil at once", err)
	}
	if err := r.Refresh(); err != nil {
		t.Errorf("Refresh with no nodes file: got %v, want nil", err)
	}
}

func TestNodesFileOnly(t *testing.T) {
	pa, a := key(1)
	pb, b := key(2)
	dir := t.TempDir()
	forms := map[string]string{
		"object": nodesJSON(t, map[string]float64{a: 5000, b: 10}),
		"array":  `[{"hotkey":"` + a + `","stake":5000,"node_id":0},{"hotkey":"` + b + `","stake":10}]`,
	}
	for name, content := range forms {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".json")
			writeFile(t, path, content)
			rec := newRecorder()
			r := mustNew(t, Options{NodesFile: path, OnReload: rec.on})
			want := []Validator{
				{Hotkey: a, PublicKey: pa, Stake: 5000, Source: SourceNodesFile},
				{Hotkey: b, PublicKey: pb, Stake: 10, Source: SourceNodesFile},
			}
			wantSorted := append([]Validator(nil), want...)
			if wantSorted[0].Hotkey > wantSorted[1].Hotkey {
				wantSorted[0], wantSorted[1] = wantSorted[1], wantSorted[0]
			}
			if diff := cmp.Diff(wantSorted, r.Current().All()); diff != "" {
				t.Errorf("All (-want +got)\n%s", diff)
			}
			if diff := cmp.Diff([]reload{{SourceStatic, 0, nil}, {SourceNodesFile, 2, nil}}, rec.take(), cmp.AllowUnexported(reload{})); diff != "" {
				t.Errorf("OnReload at New (-want +got)\n%s", diff)
			}
		})
	}
}

func TestPrecedence(t *testing.T) {
	pa, a := key(1)
	pb, b := key(2)
	aOther := ss58.Encode(pa, 0) // the same key, spelled for another network
	path := filepath.Join(t.TempDir(), "nodes.json")
	writeFile(t, path, nodesJSON(t, map[string]float64{a: 5000, b: 7}))
	r := mustNew(t, Options{Static: []StaticEntry{{aOther, 10}}, NodesFile: path})

	if got := r.Current().Len(); got != 2 {
		t.Fatalf("Len: got %d, want 2 (static and file entries merged by key)", got)
	}
	v, _ := r.Current().Lookup(pa)
	if want := (Validator{Hotkey: aOther, PublicKey: pa, Stake: 10, Source: SourceStatic}); v != want {
		t.Errorf("key in both sources: got %+v, want the static entry %+v", v, want)
	}
	if _, err := r.Check(pa, 1000); !errors.Is(err, ErrLowStake) {
		t.Errorf("Check: got %v, want ErrLowStake from the static stake (the file's 5000 is overridden)", err)
	}
	if v, _ := r.Current().Lookup(pb); v.Source != SourceNodesFile || v.Stake != 7 {
		t.Errorf("file-only key: got %+v, want the file's entry", v)
	}

	// The static entry still wins after the file is reloaded.
	writeFile(t, path, nodesJSON(t, map[string]float64{a: 9000}))
	if err := r.Refresh(); err != nil {
		t.Fatal(err)
	}
	if v, _ := r.Current().Lookup(pa); v.Source != SourceStatic || v.Stake != 10 {
		t.Errorf("after reload: got %+v, want the static entry", v)
	}
	if _, ok := r.Current().Lookup(pb); ok {
		t.Errorf("after reload: key b is still listed, want it gone with the file's entry")
	}
}

func TestCheck(t *testing.T) {
	pa, a := key(1)
	pb, b := key(2)
	pz, z := [32]byte{}, ss58.Encode([32]byte{}, 42)
	pu, _ := key(3)
	r := mustNew(t, Options{Static: []StaticEntry{{a, 1000}, {b, 999.5}, {z, 1e9}}})
	cases := []struct {
		name     string
		pub      [32]byte
		minStake float64
		wantErr  error
		wantKey  string
	}{
		{"stake above", pa, 500, nil, a},
		{"stake equal is enough", pa, 1000, nil, a},
		{"stake just below", pb, 1000, ErrLowStake, b},
		{"no minimum", pb, 0, nil, b},
		{"unknown", pu, 0, ErrUnknown, ""},
		{"zero key listed with stake", pz, 0, ErrUnknown, ""},
		{"NaN minimum refuses", pa, math.NaN(), ErrLowStake, a},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := r.Check(tc.pub, tc.minStake)
			if err != tc.wantErr {
				t.Errorf("got error %v, want %v", err, tc.wantErr)
			}
			if v.Hotkey != tc.wantKey {
				t.Errorf("got validator %q, want %q", v.Hotkey, tc.wantKey)
			}
		})
	}
}

// The validator recorded in the Fiber 2.1 transcript passes with the
// threshold Fiber used; the one staked 10 does not.
func TestTranscriptMetagraph(t *testing.T) {
	var tr struct {
		Metagraph struct {
			MinStakeThreshold float64         `json:"min_stake_threshold"`
			Nodes             json.RawMessage `json:"nodes"`
		} `json:"metagraph"`
	}
	testvectors.Load(t, "transcript-fiber-2.1.json", &tr)
	path := filepath.Join(t.TempDir(), "nodes.json")
	writeFile(t, path, string(tr.Metagraph.Nodes))
	r := mustNew(t, Options{NodesFile: path})
	if got := r.Current().Len(); got != 3 {
		t.Errorf("Len: got %d, want 3", got)
	}
	minStake := 1000.0
	if tr.Metagraph.MinStakeThreshold != minStake {
		t.Fatalf("transcript threshold: got %v, want %v", tr.Metagraph.MinStakeThreshold, minStake)
	}
	cases := []struct {
		hotkey  string
		stake   float64
		wantErr error
	}{
		{"5D7SwFuzrouvt87DyHDKSS3YHZ2QaUkNFg2HgUN8qk76dKth", 5000, nil},
		{"5CVHp7QBTzs52dKJRdmZA8RUp3dEbTC94xDzXDmmSqcUdV2i", 10, ErrLowStake},
		{"5HED3NJNj2EERq9BNBEZFMgkwVwJcnE8yJvhfT1NpNx6Kqom", 0, ErrLowStake},
	}
	for _, tc := range cases {
		pub, _, err := ss58.Decode(tc.hotkey)
		if err != nil {
			t.Fatal(err)
		}
		v, err := r.Check(pub, minStake)
		if err != tc.wantErr || v.Stake != tc.stake || v.Hotkey != tc.hotkey {
			t.Errorf("%s: got %+v, %v, want stake %v, error %v", tc.hotkey, v, err, tc.stake, tc.wantErr)
		}
	}
}

func TestNewErrors(t *testing.T) {
	_, a := key(1)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	writeFile(t, bad, `{"x": `)
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"missing nodes file", Options{NodesFile: filepath.Join(dir, "none.json")}, "no such file"},
		{"bad nodes file", Options{NodesFile: bad}, `loading nodes file`},
		{"bad static hotkey", Options{Static: []StaticEntry{{"5Grw", 1}}}, `static validator 0 ("5Grw")`},
		{"negative static stake", Options{Static: []StaticEntry{{a, -1}}}, "finite number"},
		{"NaN static stake", Options{Static: []StaticEntry{{a, math.NaN()}}}, "finite number"},
		{"duplicate static", Options{Static: []StaticEntry{{a, 1}, {a, 2}}}, "the same key as static validator 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, %v, want an error containing %q", r, err, tc.want)
			}
		})
	}
}

func TestParseNodes(t *testing.T) {
	pa, a := key(1)
	_, b := key(2)
	aOther := ss58.Encode(pa, 0)
	cases := []struct {
		name    string
		data    string
		want    int    // entries, when valid
		wantErr string // substring, when invalid
	}{
		{"empty object", `{}`, 0, ""},
		{"empty array", ` [ ] `, 0, ""},
		{"extra fields ignored", `{"` + a + `": {"hotkey": "` + a + `", "stake": 1, "ip": "1.2.3.4", "port": 8091, "protocol": 4, "extra": [1, {"x": null}]}}`, 1, ""},
		{"key spelled differently", `{"` + aOther + `": {"hotkey": "` + a + `", "stake": 1}}`, 1, ""},
		{"integer stake", `[{"hotkey": "` + a + `", "stake": 0}]`, 1, ""},
		{"not JSON", `nodes`, 0, "not JSON"},
		{"scalar", `42`, 0, "want a JSON object"},
		{"truncated", `{"` + a + `": {"hotkey": "` + a + `", "stake": 1}`, 0, "not JSON"},
		{"trailing data", `[] []`, 0, "data after"},
		{"key and hotkey differ", `{"` + a + `": {"hotkey": "` + b + `", "stake": 1}}`, 0, `entry "` + a + `": key and hotkey`},
		{"bad key", `{"nope": {"hotkey": "` + a + `", "stake": 1}}`, 0, `entry "nope": key`},
		{"bad hotkey", `[{"hotkey": "` + a + `", "stake": 1}, {"hotkey": "5Grw", "stake": 1}]`, 0, `entry [1]: hotkey "5Grw"`},
		{"missing hotkey", `[{"stake": 1}]`, 0, "entry [0]: no hotkey"},
		{"missing stake", `[{"hotkey": "` + a + `"}]`, 0, "entry [0]: no stake"},
		{"null stake", `[{"hotkey": "` + a + `", "stake": null}]`, 0, "entry [0]: no stake"},
		{"string stake", `[{"hotkey": "` + a + `", "stake": "5000"}]`, 0, "want a number"},
		{"negative stake", `[{"hotkey": "` + a + `", "stake": -1}]`, 0, "finite number"},
		{"huge stake", `[{"hotkey": "` + a + `", "stake": 1e999}]`, 0, "want a number"},
		{"null entry", `[null]`, 0, "entry [0]: want an object"},
		{"entry not object", `{"` + a + `": 5}`, 0, "want an object"},
		{"duplicate key", `[{"hotkey": "` + a + `", "stake": 1}, {"hotkey": "` + aOther + `", "stake": 2}]`, 0, "entry [1]: the same key as entry [0]"},
		{"too many entries", "[" + strings.Repeat("{},", nodes.MaxEntries) + "{}]", 0, "more than the 65536"},
		{"duplicate object key", `{"` + a + `": {"hotkey": "` + a + `", "stake": 1}, "` + a + `": {"hotkey": "` + a + `", "stake": 2}}`, 0, "the same key as"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseNodes([]byte(tc.data), SourceNodesFile)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("got %v, %v, want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || len(got) != tc.want {
				t.Errorf("got %d entries, %v, want %d", len(got), err, tc.want)
			}
		})
	}
}

func TestReloadOnChange(t *testing.T) {
	pa, a := key(1)
	pb, b := key(2)
	path := filepath.Join(t.TempDir(), "nodes.json")
	writeFile(t, path, nodesJSON(t, map[string]float64{a: 5000}))
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	rec := newRecorder()
	r := mustNew(t, Options{NodesFile: path, OnReload: rec.on, Now: func() time.Time { return now }})
	rec.take()
	if got := r.LastRefresh(); !got.Equal(now) {
		t.Errorf("LastRefresh after New: got %v, want %v", got, now)
	}

	// Unchanged file: nothing happens, once a stamp was taken when its
	// change time (which Chtimes set to now) was old enough to trust.
	time.Sleep(racyWindow + 100*time.Millisecond)
	r.pollOnce()
	rec.take()
	now = now.Add(time.Minute)
	r.pollOnce()
	if calls := rec.take(); len(calls) != 0 {
		t.Errorf("poll of an unchanged file: got OnReload %v, want none", calls)
	}

	// A new file: the next poll picks it up without a restart.
	writeFile(t, path, nodesJSON(t, map[string]float64{a: 5000, b: 2000}))
	now = now.Add(time.Minute)
	r.pollOnce()
	if calls := rec.take(); len(calls) != 1 || calls[0] != (reload{SourceNodesFile, 2, nil}) {
		t.Errorf("poll after a change: got OnReload %v, want one success with 2", calls)
	}
	if _, err := r.Check(pb, 1000); err != nil {
		t.Errorf("new validator: got %v, want accepted", err)
	}
	if _, err := r.Check(pa, 1000); err != nil {
		t.Errorf("kept validator: got %v, want accepted", err)
	}
	if got := r.LastRefresh(); !got.Equal(now) {
		t.Errorf("LastRefresh after reload: got %v, want %v", got, now)
	}

	// Touched but identical: a good read that changes nothing. The refresh
	// time moves, since the file was confirmed current.
	before := r.Current()
	later := time.Now().Add(time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	r.pollOnce()
	if calls := rec.take(); len(calls) != 1 || calls[0] != (reload{SourceNodesFile, 2, nil}) {
		t.Errorf("touched file: got OnReload %v, want one success with 2", calls)
	}
	if r.Current() != before {
		t.Errorf("touched file: the Set was rebuilt, want it kept")
	}
	if got := r.LastRefresh(); !got.Equal(now) {
		t.Errorf("LastRefresh after a touch: got %v, want %v", got, now)
	}
}

// A rewrite that keeps the size and the modification time is seen when the
// time is too recent to trust, and trusted (not read) when it is old.
func TestPollStamp(t *testing.T) {
	_, a := key(1)
	_, b := key(2)
	path := filepath.Join(t.TempDir(), "nodes.json")
	write := func(hk string, mtime time.Time) {
		t.Helper()
		writeFile(t, path, `[{"hotkey":"`+hk+`","stake":1}]`)
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	hotkey := func(r *Registry) string {
		all := r.Current().All()
		if len(all) != 1 {
			t.Fatalf("got %d validators, want 1", len(all))
		}
		return all[0].Hotkey
	}

	t.Run("recent mtime is re-read", func(t *testing.T) {
		mtime := time.Now()
		write(a, mtime)
		r := mustNew(t, Options{NodesFile: path})
		write(b, mtime) // same size, same mtime
		r.pollOnce()
		if got := hotkey(r); got != b {
			t.Errorf("got %s, want the rewritten %s", got, b)
		}
	})
	// cp -p, rsync -t and tar replace a file with one of the same size and
	// (old) modification time: the change time or the inode tells.
	t.Run("rewritten in place with the old mtime (cp -p)", func(t *testing.T) {
		mtime := time.Now().Add(-time.Hour)
		write(a, mtime)
		r := mustNew(t, Options{NodesFile: path})
		time.Sleep(racyWindow + 100*time.Millisecond)
		r.pollOnce() // the stamp taken now is trusted from here
		write(b, mtime)
		r.pollOnce()
		if got := hotkey(r); got != b {
			t.Errorf("got %s, want the rewritten %s", got, b)
		}
	})
	t.Run("renamed over with the old mtime (rsync -t, tar)", func(t *testing.T) {
		mtime := time.Now().Add(-time.Hour)
		write(a, mtime)
		r := mustNew(t, Options{NodesFile: path})
		tmp := path + ".new"
		writeFile(t, tmp, `[{"hotkey":"`+b+`","stake":1}]`)
		if err := os.Chtimes(tmp, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		time.Sleep(racyWindow + 100*time.Millisecond) // both change times are old
		r.pollOnce()                                  // the stamp taken now is trusted from here
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		r.pollOnce()
		if got := hotkey(r); got != b {
			t.Errorf("got %s, want the renamed-over %s", got, b)
		}
	})
	t.Run("an untouched file is not read", func(t *testing.T) {
		write(a, time.Now().Add(-time.Hour))
		rec := newRecorder()
		r := mustNew(t, Options{NodesFile: path, OnReload: rec.on})
		time.Sleep(racyWindow + 100*time.Millisecond)
		r.pollOnce() // the stamp taken now is trusted from here
		rec.take()
		r.pollOnce()
		if calls := rec.take(); len(calls) != 0 {
			t.Errorf("poll of an untouched file: got OnReload %v, want none", calls)
		}
		if err := r.Refresh(); err != nil || hotkey(r) != a {
			t.Errorf("Refresh: got %s, %v", hotkey(r), err)
		}
	})
}

func TestBadReloadKeepsOld(t *testing.T) {
	pa, a := key(1)
	path := filepath.Join(t.TempDir(), "nodes.json")
	good := nodesJSON(t, map[string]float64{a: 5000})
	writeFile(t, path, good)
	rec := newRecorder()
	r := mustNew(t, Options{NodesFile: path, OnReload: rec.on})
	rec.take()
	before := r.Current()

	for _, tc := range []struct{ name, content string }{
		{"bad JSON", `{"` + a + `": `},
		{"bad entry", `[{"hotkey": "` + a + `", "stake": 1}, {"hotkey": "x", "stake": 1}]`},
		{"empty file", ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, path, tc.content)
			r.pollOnce()
			calls := rec.take()
			if len(calls) != 1 || calls[0].err == nil || calls[0].count != 1 || calls[0].source != SourceNodesFile {
				t.Fatalf("got OnReload %v, want one failure keeping 1", calls)
			}
			if r.Current() != before {
				t.Errorf("the list changed after a bad file")
			}
			if _, err := r.Check(pa, 1000); err != nil {
				t.Errorf("Check after a bad file: got %v, want the old list to answer", err)
			}
			// Polling the same bad file again reports nothing new.
			r.pollOnce()
			if calls := rec.take(); len(calls) != 0 {
				t.Errorf("second poll of the same bad file: got %v, want no report", calls)
			}
			if err := r.Refresh(); err == nil {
				t.Errorf("Refresh of a bad file: got nil, want the error")
			}
			rec.take()
		})
	}

	t.Run("removed then restored", func(t *testing.T) {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		r.pollOnce()
		if calls := rec.take(); len(calls) != 1 || calls[0].err == nil {
			t.Fatalf("removed file: got OnReload %v, want one failure", calls)
		}
		r.pollOnce()
		if calls := rec.take(); len(calls) != 0 {
			t.Errorf("still removed: got %v, want no report", calls)
		}
		if _, err := r.Check(pa, 1000); err != nil {
			t.Errorf("Check with the file gone: got %v, want the old list to answer", err)
		}
		if err, since := r.NodesFileError(); err == nil || since.IsZero() || time.Since(since) > time.Minute {
			t.Errorf("NodesFileError with the file gone: %v since %v", err, since)
		}
		writeFile(t, path, good)
		r.pollOnce()
		if calls := rec.take(); len(calls) != 1 || calls[0].err != nil {
			t.Errorf("restored file: got OnReload %v, want one success", calls)
		}
		if err, _ := r.NodesFileError(); err != nil {
			t.Errorf("NodesFileError after a good read: %v", err)
		}
	})
}

func TestRun(t *testing.T) {
	_, a := key(1)
	pb, b := key(2)
	path := filepath.Join(t.TempDir(), "nodes.json")
	writeFile(t, path, nodesJSON(t, map[string]float64{a: 1}))
	rec := newRecorder()
	r := mustNew(t, Options{NodesFile: path, Poll: 5 * time.Millisecond, OnReload: rec.on})
	rec.take()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()

	writeFile(t, path, nodesJSON(t, map[string]float64{a: 1, b: 2}))
	select {
	case got := <-rec.ch:
		if got.err != nil || got.count != 2 {
			t.Errorf("got reload %v, want 2 validators", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not reload the changed file")
	}
	if _, ok := r.Current().Lookup(pb); !ok {
		t.Errorf("the new validator is not listed after Run reloaded")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: got %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// Lookups run while the list is swapped; -race checks the hand-over.
func TestConcurrentCheckAndReload(t *testing.T) {
	pa, a := key(1)
	_, b := key(2)
	path := filepath.Join(t.TempDir(), "nodes.json")
	writeFile(t, path, nodesJSON(t, map[string]float64{a: 1}))
	r := mustNew(t, Options{Static: []StaticEntry{{a, 5}}, NodesFile: path})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if v, err := r.Check(pa, 5); err != nil || v.Source != SourceStatic {
					t.Errorf("Check during reload: got %+v, %v", v, err)
					return
				}
			}
		}()
	}
	for i := range 50 {
		stake := map[string]float64{a: 1}
		if i%2 == 0 {
			stake[b] = float64(i)
		}
		writeFile(t, path, nodesJSON(t, stake))
		if err := r.Refresh(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

// MaxStake is the highest stake anyone listed can be served with: the
// all-zero key never counts, an empty set has none.
func TestMaxStake(t *testing.T) {
	p1, _ := key(1)
	p2, _ := key(2)
	for _, tc := range []struct {
		name   string
		layers [][]Validator
		want   float64
	}{
		{"empty", nil, math.Inf(-1)},
		{"zero stakes", [][]Validator{{{PublicKey: p1}, {PublicKey: p2}}}, 0},
		{"the all-zero key", [][]Validator{{{PublicKey: [32]byte{}, Stake: 9000}, {PublicKey: p1, Stake: 10}}}, 10},
		{"a higher layer wins", [][]Validator{{{PublicKey: p1, Stake: 9000}}, {{PublicKey: p1, Stake: 5}}}, 5},
	} {
		if got := newSet(tc.layers...).MaxStake(); got != tc.want {
			t.Errorf("%s: MaxStake %v, want %v", tc.name, got, tc.want)
		}
	}
	var s *Set
	if !math.IsInf(s.MaxStake(), -1) {
		t.Error("nil Set: MaxStake is not -Inf")
	}
}

func TestEmptySet(t *testing.T) {
	var s *Set
	if _, ok := s.Lookup([32]byte{1}); ok || s.Len() != 0 || s.All() != nil {
		t.Errorf("nil Set: got a non-empty answer")
	}
	r := mustNew(t, Options{})
	if r.Current() == nil || r.Current().Len() != 0 {
		t.Errorf("Current with no sources: got %v, want an empty Set", r.Current())
	}
	if _, err := r.Check([32]byte{1}, 0); err != ErrUnknown {
		t.Errorf("Check with no sources: got %v, want ErrUnknown", err)
	}
}

func BenchmarkCheck(b *testing.B) {
	const n = 256
	static := make([]StaticEntry, n)
	pubs := make([][32]byte, n)
	for i := range static {
		var pub [32]byte
		pub[0], pub[1] = byte(i), 0xA5
		pubs[i] = pub
		static[i] = StaticEntry{Hotkey: ss58.Encode(pub, 42), Stake: float64(i * 10)}
	}
	r, err := New(Options{Static: static})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			_, _ = r.Check(pubs[i%n], 1000)
			i++
		}
	})
}
