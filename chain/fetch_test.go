package chain

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/chain/chaintest"
	"github.com/fibergate/fibergate/chain/rpc"
	"github.com/fibergate/fibergate/internal/testvectors"
)

func session(t testing.TB, file string) *chaintest.Session {
	t.Helper()
	s, err := chaintest.LoadSession(filepath.Join(testvectors.Dir(), file))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fakeNode(t testing.TB, sessions ...*chaintest.Session) *chaintest.Server {
	t.Helper()
	srv, err := chaintest.NewServer(sessions...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func fetch(t testing.TB, opts Options, timeout time.Duration) (*Snapshot, error) {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Fetch(ctx)
}

// Fetch asks a node answering from each recorded session for what was
// recorded, at the session's block, and returns its neurons as Fiber 2.1
// does, over both transports.
func TestFetchRecordedSessions(t *testing.T) {
	for _, fx := range liteFixtures {
		t.Run(fx.file, func(t *testing.T) {
			f, b := loadLite(t, fx.file)
			ss := session(t, fx.file)
			srv := fakeNode(t, ss)
			ns, err := DecodeNeuronsLite(b, fx.wrapped)
			if err != nil {
				t.Fatal(err)
			}
			want := NodesFromNeurons(ns)
			// The block is the recorded header's of the session's hash.
			// (In one spec-208 session that is the parent of the best
			// block, which the call was made at.)
			var wantBlock uint64
			for _, r := range f.Related {
				if r.Request.Method == "chain_getHeader" && len(r.Request.Params) == 1 && r.Request.Params[0] == ss.Head {
					var h struct{ Number string }
					if err := json.Unmarshal(r.Response.Result, &h); err != nil {
						t.Fatal(err)
					}
					wantBlock, _ = strconv.ParseUint(strings.TrimPrefix(h.Number, "0x"), 16, 64)
				}
			}
			if wantBlock != f.Block && wantBlock != f.Block-1 {
				t.Fatalf("recorded header %d, fixture block %d", wantBlock, f.Block)
			}
			for _, url := range []string{srv.HTTPURL(), srv.WSURL()} {
				snap, err := fetch(t, Options{URL: url, NetUID: f.NetUID}, 10*time.Second)
				if err != nil {
					t.Fatalf("%s: Fetch: %v", url, err)
				}
				if snap.Block != wantBlock || snap.BlockHash != ss.Head || snap.SpecVersion != f.Runtime.SpecVersion || snap.NetUID != f.NetUID || snap.Rule != StakeFiber21 {
					t.Errorf("%s: got block %d %s spec %d netuid %d, want %d %s %d %d", url, snap.Block, snap.BlockHash, snap.SpecVersion, snap.NetUID, wantBlock, ss.Head, f.Runtime.SpecVersion, f.NetUID)
				}
				if len(snap.Nodes) != len(want) {
					t.Fatalf("%s: got %d nodes, want %d", url, len(snap.Nodes), len(want))
				}
				for i := range want {
					if snap.Nodes[i].Hotkey != want[i].Hotkey || math.Float64bits(snap.Nodes[i].Stake) != math.Float64bits(want[i].Stake) {
						t.Fatalf("%s: node %d: got %s %v, want %s %v", url, i, snap.Nodes[i].Hotkey, snap.Nodes[i].Stake, want[i].Hotkey, want[i].Stake)
					}
				}
			}
			// The state_call went out as recorded (the node takes the
			// arguments with or without 0x), at the session's block.
			var recorded []any
			for _, r := range srv.Requests() {
				if m, p, _ := strings.Cut(r, " "); m == "state_call" {
					if err := json.Unmarshal([]byte(p), &recorded); err != nil {
						t.Fatal(err)
					}
				}
			}
			if len(recorded) != 3 || recorded[0] != f.Request.Params[0] ||
				strings.TrimPrefix(recorded[1].(string), "0x") != strings.TrimPrefix(f.Request.Params[1].(string), "0x") || recorded[2] != ss.Head {
				t.Errorf("state_call params: got %v, want %v at %s", recorded, f.Request.Params, ss.Head)
			}
		})
	}
}

// metagraphNode serves the spec-343 session with a get_metagraph answer
// made from the recorded selective one.
func metagraphNode(t testing.TB) (*chaintest.Server, *selectiveFixture) {
	t.Helper()
	sf := loadSelective(t, "chain/selective_mechagraph_netuid1_spec343_block6852690.json")
	sel := unhex(t, sf.ResultHex)
	var spans [selectiveFields]span
	if _, err := decodeMetagraph(sel, true, &spans); err != nil {
		t.Fatal(err)
	}
	ss := session(t, "chain/selective_mechagraph_netuid1_spec343_block6852690.json")
	srv := fakeNode(t, ss)
	srv.AddStateCall(metagraphCall, "0100", ss.Head, "0x"+hex.EncodeToString(fullFromSelective(sel, &spans)))
	return srv, sf
}

func TestFetchFiber25(t *testing.T) {
	srv, sf := metagraphNode(t)
	snap, err := fetch(t, Options{URL: srv.WSURL(), NetUID: 1, Rule: StakeFiber25}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Block != 6852690 || snap.SpecVersion != 343 || len(snap.Nodes) != len(sf.Decoded.Neurons) {
		t.Fatalf("got block %d spec %d, %d nodes", snap.Block, snap.SpecVersion, len(snap.Nodes))
	}
	for uid, w := range sf.Decoded.Neurons {
		n := snap.Nodes[uid]
		if n.Hotkey != w.Hotkey || math.Float64bits(n.Stake) != math.Float64bits(w.Fiber25.Stake) {
			t.Errorf("uid %d: got %s %v, want %s %v", uid, n.Hotkey, n.Stake, w.Hotkey, w.Fiber25.Stake)
		}
	}
}

func TestFetchFailures(t *testing.T) {
	ss := session(t, "chain/neurons_lite_netuid1_spec343_block6852690.json")
	runtime := func(name string, spec int) chaintest.Handler {
		return func(ctx context.Context, method string, params []json.RawMessage) (any, error) {
			if method != "state_getRuntimeVersion" {
				return nil, chaintest.ErrUseRecording
			}
			return map[string]any{"specName": name, "specVersion": spec}, nil
		}
	}
	answer := func(m string, v any, err error) chaintest.Handler {
		return func(ctx context.Context, method string, params []json.RawMessage) (any, error) {
			if method != m {
				return nil, chaintest.ErrUseRecording
			}
			return v, err
		}
	}
	result := ss.Result
	first := "0x04" + result[6:6+2*183] // the first neuron alone
	cases := []struct {
		name    string
		handler chaintest.Handler
		netuid  uint16
		rule    StakeRule
		newer   bool
		reason  string
		err     error
	}{
		{"spec between the known ranges", runtime("node-subtensor", 225), 1, StakeFiber21, false, ReasonRuntime, ErrUnsupportedRuntime},
		{"spec newer than known", runtime("node-subtensor", 500), 1, StakeFiber21, false, ReasonRuntime, ErrUnsupportedRuntime},
		{"metagraph before its known layout", runtime("node-subtensor", 300), 1, StakeFiber25, false, ReasonRuntime, ErrUnsupportedRuntime},
		{"another chain", runtime("polkadot", 343), 1, StakeFiber21, false, ReasonBadResponse, ErrBadAnswer},
		{"node error", answer("state_call", nil, &chaintest.Error{Code: 4003, Message: "State already discarded"}), 1, StakeFiber21, false, ReasonNodeError, nil},
		{"head error", answer("chain_getFinalizedHead", nil, &chaintest.Error{Code: -32603, Message: "internal"}), 1, StakeFiber21, false, ReasonNodeError, nil},
		{"truncated answer", answer("state_call", result[:len(result)-10], nil), 1, StakeFiber21, false, ReasonBadResponse, nil},
		{"huge compact length", answer("state_call", "0x13ffffffffffffffff00", nil), 1, StakeFiber21, false, ReasonBadResponse, nil},
		{"odd hex", answer("state_call", "0x0", nil), 1, StakeFiber21, false, ReasonBadResponse, ErrBadAnswer},
		{"no 0x", answer("state_call", result[2:], nil), 1, StakeFiber21, false, ReasonBadResponse, ErrBadAnswer},
		{"not a string", answer("state_call", 42, nil), 1, StakeFiber21, false, ReasonBadResponse, rpc.ErrBadResponse},
		{"null", answer("state_call", nil, nil), 1, StakeFiber21, false, ReasonBadResponse, rpc.ErrNull},
		{"bad head", answer("chain_getFinalizedHead", "0x1234", nil), 1, StakeFiber21, false, ReasonBadResponse, ErrBadAnswer},
		{"bad block number", answer("chain_getHeader", map[string]any{"number": "12"}, nil), 1, StakeFiber21, false, ReasonBadResponse, ErrBadAnswer},
		{"neurons of another subnet", answer("state_call", first, nil), 2, StakeFiber21, false, ReasonBadResponse, ErrBadAnswer},
		{"no neurons", answer("state_call", "0x00", nil), 1, StakeFiber21, false, ReasonNoSubnet, ErrNoSubnet},
		{"no subnet", answer("state_call", "0x00", nil), 1, StakeFiber25, false, ReasonNoSubnet, ErrNoSubnet},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeNode(t, ss)
			srv.Handle(tc.handler)
			snap, err := fetch(t, Options{URL: srv.WSURL(), NetUID: tc.netuid, Rule: tc.rule, AllowNewerRuntime: tc.newer}, 10*time.Second)
			if err == nil {
				t.Fatalf("got %d nodes, want an error", len(snap.Nodes))
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("got %v, want %v", err, tc.err)
			}
			if got := FailureReason(err); got != tc.reason {
				t.Errorf("FailureReason(%v): got %q, want %q", err, got, tc.reason)
			}
		})
	}

	t.Run("newer spec allowed", func(t *testing.T) {
		srv := fakeNode(t, ss)
		srv.Handle(runtime("node-subtensor", 500))
		snap, err := fetch(t, Options{URL: srv.HTTPURL(), NetUID: 1, AllowNewerRuntime: true}, 10*time.Second)
		if err != nil || len(snap.Nodes) != 1024 || snap.SpecVersion != 500 {
			t.Errorf("got %v, want 1024 nodes read with the newest known layout", err)
		}
	})

	t.Run("node never answers", func(t *testing.T) {
		srv := fakeNode(t, ss)
		srv.Handle(func(ctx context.Context, method string, params []json.RawMessage) (any, error) {
			if method == "state_call" {
				<-ctx.Done()
			}
			return nil, chaintest.ErrUseRecording
		})
		for _, url := range []string{srv.HTTPURL(), srv.WSURL()} {
			start := time.Now()
			_, err := fetch(t, Options{URL: url, NetUID: 1}, 300*time.Millisecond)
			if FailureReason(err) != ReasonTimeout || time.Since(start) > 5*time.Second {
				t.Errorf("%s: got %v after %v, want a timeout at the deadline", url, err, time.Since(start))
			}
		}
	})

	t.Run("node gone", func(t *testing.T) {
		srv := fakeNode(t, ss)
		srv.Close()
		for _, url := range []string{srv.HTTPURL(), srv.WSURL()} {
			if _, err := fetch(t, Options{URL: url, NetUID: 1}, 5*time.Second); FailureReason(err) != ReasonUnreachable {
				t.Errorf("%s: got %v (%s), want unreachable", url, err, FailureReason(err))
			}
		}
	})

	t.Run("answer too large", func(t *testing.T) {
		srv := fakeNode(t, ss)
		for _, url := range []string{srv.HTTPURL(), srv.WSURL()} {
			_, err := fetch(t, Options{URL: url, NetUID: 1, RPC: rpc.Options{MaxResponse: 100 << 10}}, 10*time.Second)
			if !errors.Is(err, rpc.ErrTooLarge) || FailureReason(err) != ReasonBadResponse {
				t.Errorf("%s: got %v, want ErrTooLarge", url, err)
			}
		}
	})
}

func TestNewErrors(t *testing.T) {
	for _, o := range []Options{{URL: "tcp://node:9944"}, {URL: ""}, {URL: "ws://node:9944", Rule: StakeRule(7)}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v): got no error", o)
		}
	}
}
