package chain

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fibergate/fibergate/chain/scale"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/internal/testvectors"
)

// The chain fixtures: recorded answers of subtensor nodes and what
// @polkadot/types decoded them to.
var (
	liteFixtures = []struct {
		file    string
		wrapped bool
	}{
		{"chain/neurons_lite_netuid23_spec208_block3264143.json", true},
		{"chain/neurons_lite_netuid23_spec208_block3264157.json", true},
		{"chain/neurons_lite_netuid1_spec315_block6521772.json", false},
		{"chain/neurons_lite_netuid1_spec320_block6530367.json", false},
		{"chain/neurons_lite_netuid1_spec343_block6852690.json", false},
	}
	selectiveFixtures = []string{
		"chain/selective_mechagraph_netuid1_spec320_block6530367.json",
		"chain/selective_mechagraph_netuid1_spec343_block6852690.json",
	}
)

type axonJSON struct {
	Block        string `json:"block"`
	Version      uint32 `json:"version"`
	IP           string `json:"ip"`
	IPInt        string `json:"ip_int"`
	Port         uint16 `json:"port"`
	IPType       uint8  `json:"ip_type"`
	Protocol     uint8  `json:"protocol"`
	Placeholder1 uint8  `json:"placeholder1"`
	Placeholder2 uint8  `json:"placeholder2"`
}

type liteFixture struct {
	NetUID    uint16 `json:"netuid"`
	Block     uint64 `json:"block"`
	ResultHex string `json:"result_hex"`
	Runtime   struct {
		SpecVersion uint32 `json:"spec_version"`
	} `json:"runtime"`
	Request struct {
		Params []any `json:"params"`
	} `json:"request"`
	Related []struct {
		Request struct {
			Method string `json:"method"`
			Params []any  `json:"params"`
		} `json:"request"`
		Response struct {
			Result json.RawMessage `json:"result"`
		} `json:"response"`
	} `json:"related"`
	Decoded struct {
		Count               int   `json:"count"`
		ValidatorPermitUIDs []int `json:"validator_permit_uids"`
		Neurons             []struct {
			UID             uint16 `json:"uid"`
			NetUID          uint16 `json:"netuid"`
			Hotkey          string `json:"hotkey"`
			HotkeyHex       string `json:"hotkey_hex"`
			ColdkeyHex      string `json:"coldkey_hex"`
			Active          bool   `json:"active"`
			ValidatorPermit bool   `json:"validator_permit"`
			Stake           []struct {
				ColdkeyHex string `json:"coldkey_hex"`
				Rao        string `json:"rao"`
			} `json:"stake"`
			StakeTotalRao  string   `json:"stake_total_rao"`
			FiberLiteStake float64  `json:"fiber_lite_stake"`
			Axon           axonJSON `json:"axon"`
			Prometheus     axonJSON `json:"prometheus"`
			Rank           uint16   `json:"rank"`
			Emission       string   `json:"emission"`
			Incentive      uint16   `json:"incentive"`
			Consensus      uint16   `json:"consensus"`
			Trust          uint16   `json:"trust"`
			ValidatorTrust uint16   `json:"validator_trust"`
			Dividends      uint16   `json:"dividends"`
			LastUpdate     string   `json:"last_update"`
			PruningScore   uint16   `json:"pruning_score"`
		} `json:"neurons"`
	} `json:"decoded"`
}

// fixtures holds each fixture file decoded once for the whole run: they
// are 1.4 MB of JSON each. Tests must not modify what they get.
var fixtures sync.Map // file name -> *liteFixture or *selectiveFixture

func load[T any](t testing.TB, file string) *T {
	t.Helper()
	if v, ok := fixtures.Load(file); ok {
		return v.(*T)
	}
	f := new(T)
	testvectors.Load(t, file, f)
	v, _ := fixtures.LoadOrStore(file, f)
	return v.(*T)
}

func loadLite(t testing.TB, file string) (*liteFixture, []byte) {
	t.Helper()
	f := load[liteFixture](t, file)
	return f, unhex(t, f.ResultHex)
}

func loadSelective(t testing.TB, file string) *selectiveFixture {
	t.Helper()
	return load[selectiveFixture](t, file)
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func key(t testing.TB, s string) [32]byte {
	t.Helper()
	var k [32]byte
	if b := unhex(t, s); len(b) != 32 {
		t.Fatalf("key %s: %d bytes", s, len(b))
	} else {
		copy(k[:], b)
	}
	return k
}

func u64(t testing.TB, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// ipLo returns the decimal u128 ip_int's low half; every fixture address is
// IPv4 or 0, so the high half is 0.
func ipLo(t testing.TB, s string) (uint64, uint64) {
	t.Helper()
	return u64(t, s), 0
}

func wantAxon(t testing.TB, a axonJSON) AxonInfo {
	lo, hi := ipLo(t, a.IPInt)
	return AxonInfo{Block: u64(t, a.Block), Version: a.Version, IPLo: lo, IPHi: hi, Port: a.Port,
		IPType: a.IPType, Protocol: a.Protocol, Placeholder1: a.Placeholder1, Placeholder2: a.Placeholder2}
}

// Every neuron of every get_neurons_lite fixture decodes to what
// @polkadot/types made of it, and Fiber 2.1's rule gives the recorded
// fiber_lite_stake exactly.
func TestNeuronsLiteFixtures(t *testing.T) {
	for _, fx := range liteFixtures {
		t.Run(fx.file, func(t *testing.T) {
			f, b := loadLite(t, fx.file)
			wrapped, err := liteWrapped(f.Runtime.SpecVersion, false)
			if err != nil || wrapped != fx.wrapped {
				t.Fatalf("spec %d: got wrapped %v, %v, want %v", f.Runtime.SpecVersion, wrapped, err, fx.wrapped)
			}
			ns, err := DecodeNeuronsLite(b, wrapped)
			if err != nil {
				t.Fatalf("DecodeNeuronsLite: %v", err)
			}
			if len(ns) != f.Decoded.Count || len(ns) != len(f.Decoded.Neurons) {
				t.Fatalf("got %d neurons, want %d", len(ns), f.Decoded.Count)
			}
			nodes := NodesFromNeurons(ns)
			var permits []int
			for i, w := range f.Decoded.Neurons {
				got := ns[i]
				want := Neuron{
					Hotkey: key(t, w.HotkeyHex), Coldkey: key(t, w.ColdkeyHex),
					UID: w.UID, NetUID: w.NetUID, Active: w.Active,
					Axon: wantAxon(t, w.Axon),
					Rank: w.Rank, Emission: u64(t, w.Emission), Incentive: w.Incentive, Consensus: w.Consensus,
					Trust: w.Trust, ValidatorTrust: w.ValidatorTrust, Dividends: w.Dividends,
					LastUpdate: u64(t, w.LastUpdate), ValidatorPermit: w.ValidatorPermit, PruningScore: w.PruningScore,
				}
				p := wantAxon(t, w.Prometheus)
				want.Prometheus = PrometheusInfo{Block: p.Block, Version: p.Version, IPLo: p.IPLo, IPHi: p.IPHi, Port: p.Port, IPType: p.IPType}
				for _, s := range w.Stake {
					want.Stake = append(want.Stake, StakeEntry{Coldkey: key(t, s.ColdkeyHex), Amount: u64(t, s.Rao)})
				}
				if !reflect.DeepEqual(want, got) {
					t.Errorf("neuron %d (uid %d): (-want +got)\n%s", i, w.UID, cmp.Diff(want, got))
					continue
				}
				n := nodes[i]
				if math.Float64bits(n.Stake) != math.Float64bits(w.FiberLiteStake) {
					t.Errorf("uid %d: fiber_2_1 stake %v (%x), want fiber_lite_stake %v (%x)",
						w.UID, n.Stake, math.Float64bits(n.Stake), w.FiberLiteStake, math.Float64bits(w.FiberLiteStake))
				}
				if n.Hotkey != w.Hotkey || n.PublicKey != want.Hotkey || n.NodeID != int(w.UID) || n.ValidatorPermit != w.ValidatorPermit {
					t.Errorf("uid %d: node %s (%d, permit %v), want %s", w.UID, n.Hotkey, n.NodeID, n.ValidatorPermit, w.Hotkey)
				}
				if n.IP != w.Axon.IP {
					t.Errorf("uid %d: ip %q, want %q", w.UID, n.IP, w.Axon.IP)
				}
				if n.Trust != float64(w.Trust)/65535 || n.VTrust != float64(w.ValidatorTrust)/65535 || n.LastUpdated != float64(want.LastUpdate) {
					t.Errorf("uid %d: trust %v vtrust %v last_updated %v", w.UID, n.Trust, n.VTrust, n.LastUpdated)
				}
				if n.AlphaStake != nil || n.TaoStake != nil {
					t.Errorf("uid %d: alpha/tao stake set under Fiber 2.1's rule", w.UID)
				}
				if got.ValidatorPermit {
					permits = append(permits, int(got.UID))
				}
			}
			if diff := cmp.Diff(f.Decoded.ValidatorPermitUIDs, permits); diff != "" {
				t.Errorf("validator_permit uids (-want +got)\n%s", diff)
			}

			// The other shape does not decode: the layout must be chosen
			// by spec, never guessed from the bytes.
			if _, err := DecodeNeuronsLite(b, !wrapped); err == nil {
				t.Errorf("decoded with wrapped=%v as well; want an error", !wrapped)
			}
		})
	}
}

type selectiveFixture struct {
	NetUID    uint16 `json:"netuid"`
	ResultHex string `json:"result_hex"`
	Decoded   struct {
		Subnet struct {
			NetUID        uint16 `json:"netuid"`
			NameUTF8      string `json:"name_utf8"`
			SymbolUTF8    string `json:"symbol_utf8"`
			OwnerHotkey   string `json:"owner_hotkey"`
			OwnerColdkey  string `json:"owner_coldkey"`
			Block         string `json:"block"`
			Tempo         uint16 `json:"tempo"`
			MaxValidators uint16 `json:"max_validators"`
			NumUIDs       uint16 `json:"num_uids"`
			MaxUIDs       uint16 `json:"max_uids"`
		} `json:"subnet"`
		VectorLengths       map[string]int `json:"vector_lengths"`
		ValidatorPermitUIDs []int          `json:"validator_permit_uids"`
		Validators          []uint16       `json:"validators"`
		Neurons             []struct {
			UID                 int      `json:"uid"`
			Hotkey              string   `json:"hotkey"`
			HotkeyHex           string   `json:"hotkey_hex"`
			ColdkeyHex          string   `json:"coldkey_hex"`
			Active              bool     `json:"active"`
			ValidatorPermit     bool     `json:"validator_permit"`
			AlphaStakeRao       string   `json:"alpha_stake_rao"`
			TaoStakeRao         string   `json:"tao_stake_rao"`
			TotalStakeRao       string   `json:"total_stake_rao"`
			Axon                axonJSON `json:"axon"`
			PruningScore        uint16   `json:"pruning_score"`
			LastUpdate          string   `json:"last_update"`
			Emission            string   `json:"emission"`
			Dividends           uint16   `json:"dividends"`
			Incentive           uint16   `json:"incentive"`
			Consensus           uint16   `json:"consensus"`
			Trust               uint16   `json:"trust"`
			Rank                uint16   `json:"rank"`
			BlockAtRegistration string   `json:"block_at_registration"`
			Identity            any      `json:"identity"`
			Fiber25             struct {
				Stake      float64 `json:"stake"`
				AlphaStake float64 `json:"alpha_stake"`
				TaoStake   float64 `json:"tao_stake"`
			} `json:"fiber_2_5"`
		} `json:"neurons"`
	} `json:"decoded"`
}

func ss58Key(t testing.TB, s string) [32]byte {
	t.Helper()
	pub, _, err := ss58.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// Every uid of every selective-mechagraph fixture decodes to what
// @polkadot/types made of it, and Fiber 2.5's rule gives the recorded
// fiber_2_5 stakes exactly.
func TestSelectiveMetagraphFixtures(t *testing.T) {
	for _, file := range selectiveFixtures {
		t.Run(file, func(t *testing.T) {
			f := loadSelective(t, file)
			b := unhex(t, f.ResultHex)
			var spans [selectiveFields]span
			m, err := decodeMetagraph(b, true, &spans)
			if err != nil {
				t.Fatalf("DecodeSelectiveMetagraph: %v", err)
			}
			for i := range selectiveFields {
				if !m.Has(i) {
					t.Errorf("field %d absent; the fixture asked for all 74", i)
				}
			}
			s := f.Decoded.Subnet
			if m.NetUID != s.NetUID || string(m.Name) != s.NameUTF8 || string(m.Symbol) != s.SymbolUTF8 ||
				m.Block != u64(t, s.Block) || m.Tempo != s.Tempo || m.MaxValidators != s.MaxValidators ||
				m.NumUIDs != s.NumUIDs || m.MaxUIDs != s.MaxUIDs ||
				m.OwnerHotkey != ss58Key(t, s.OwnerHotkey) || m.OwnerColdkey != ss58Key(t, s.OwnerColdkey) {
				t.Errorf("subnet fields: got netuid %d name %q symbol %q block %d tempo %d max_validators %d num_uids %d max_uids %d, want %+v",
					m.NetUID, m.Name, m.Symbol, m.Block, m.Tempo, m.MaxValidators, m.NumUIDs, m.MaxUIDs, s)
			}
			lengths := map[string]int{
				"hotkeys": len(m.Hotkeys), "coldkeys": len(m.Coldkeys), "axons": len(m.Axons), "active": len(m.Active),
				"validator_permit": len(m.ValidatorPermit), "pruning_score": len(m.PruningScore), "last_update": len(m.LastUpdate),
				"emission": len(m.Emission), "dividends": len(m.Dividends), "incentives": len(m.Incentives),
				"consensus": len(m.Consensus), "trust": len(m.Trust), "rank": len(m.Rank),
				"block_at_registration": len(m.BlockAtRegistration), "alpha_stake": len(m.AlphaStake),
				"tao_stake": len(m.TaoStake), "total_stake": len(m.TotalStake),
			}
			want := make(map[string]int)
			for k, v := range f.Decoded.VectorLengths {
				if k != "identities" { // counted below, by uid
					want[k] = v
				}
			}
			if diff := cmp.Diff(want, lengths); diff != "" {
				t.Errorf("vector lengths (-want +got)\n%s", diff)
			}
			if diff := cmp.Diff(f.Decoded.Validators, m.Validators); diff != "" {
				t.Errorf("validators (-want +got)\n%s", diff)
			}

			nodes, err := NodesFromMetagraph(m, f.NetUID)
			if err != nil {
				t.Fatal(err)
			}
			if len(nodes) != len(f.Decoded.Neurons) {
				t.Fatalf("got %d nodes, want %d", len(nodes), len(f.Decoded.Neurons))
			}
			identities := 0
			var permits []int
			for uid, w := range f.Decoded.Neurons {
				if w.UID != uid {
					t.Fatalf("fixture neuron %d has uid %d", uid, w.UID)
				}
				type row struct {
					Hotkey, Coldkey                          [32]byte
					Active, Permit                           bool
					Alpha, Tao, Total, LastUpdate, Emission  uint64
					BlockAtRegistration                      uint64
					Axon                                     AxonInfo
					Pruning, Dividends, Incentive, Consensus uint16
					Trust, Rank                              uint16
				}
				got := row{m.Hotkeys[uid], m.Coldkeys[uid], m.Active[uid], m.ValidatorPermit[uid],
					m.AlphaStake[uid], m.TaoStake[uid], m.TotalStake[uid], m.LastUpdate[uid], m.Emission[uid],
					m.BlockAtRegistration[uid], m.Axons[uid], m.PruningScore[uid], m.Dividends[uid], m.Incentives[uid],
					m.Consensus[uid], m.Trust[uid], m.Rank[uid]}
				wantRow := row{key(t, w.HotkeyHex), key(t, w.ColdkeyHex), w.Active, w.ValidatorPermit,
					u64(t, w.AlphaStakeRao), u64(t, w.TaoStakeRao), u64(t, w.TotalStakeRao), u64(t, w.LastUpdate), u64(t, w.Emission),
					u64(t, w.BlockAtRegistration), wantAxon(t, w.Axon), w.PruningScore, w.Dividends, w.Incentive,
					w.Consensus, w.Trust, w.Rank}
				if wantRow != got {
					t.Errorf("uid %d: (-want +got)\n%s", uid, cmp.Diff(wantRow, got))
					continue
				}
				n := nodes[uid]
				for _, c := range []struct {
					name      string
					got, want float64
				}{
					{"stake", n.Stake, w.Fiber25.Stake},
					{"alpha_stake", *n.AlphaStake, w.Fiber25.AlphaStake},
					{"tao_stake", *n.TaoStake, w.Fiber25.TaoStake},
				} {
					if math.Float64bits(c.got) != math.Float64bits(c.want) {
						t.Errorf("uid %d: fiber_2_5 %s %v, want %v", uid, c.name, c.got, c.want)
					}
				}
				if n.Hotkey != w.Hotkey || n.NodeID != uid || n.IP != w.Axon.IPInt || n.VTrust != float64(w.Consensus) {
					t.Errorf("uid %d: node %s id %d ip %q vtrust %v", uid, n.Hotkey, n.NodeID, n.IP, n.VTrust)
				}
				if w.Identity != nil {
					identities++
				}
				if w.ValidatorPermit {
					permits = append(permits, uid)
				}
			}
			if m.Identities != identities {
				t.Errorf("identities: got %d, want %d", m.Identities, identities)
			}
			if diff := cmp.Diff(f.Decoded.ValidatorPermitUIDs, permits); diff != "" {
				t.Errorf("validator_permit uids (-want +got)\n%s", diff)
			}

			// get_metagraph's answer is the same fields without the Option
			// around each (and without the last two). No real one was
			// recorded, so it is made from this one with the field spans
			// the selective decode found, and must decode to the same.
			full := fullFromSelective(b, &spans)
			fm, err := DecodeMetagraph(full)
			if err != nil {
				t.Fatalf("DecodeMetagraph of the derived answer: %v", err)
			}
			for i := range selectiveFields {
				if fm.Has(i) != (i < metagraphFields) {
					t.Errorf("get_metagraph form: Has(%d) = %v", i, fm.Has(i))
				}
			}
			want2 := *m
			want2.Validators, want2.has, fm.has = nil, [selectiveFields]bool{}, [selectiveFields]bool{}
			if !reflect.DeepEqual(&want2, fm) {
				t.Errorf("get_metagraph form (-selective +full)\n%s", cmp.Diff(&want2, fm, cmp.AllowUnexported(Metagraph{})))
			}
			if _, err := DecodeSelectiveMetagraph(full); err == nil {
				t.Errorf("the get_metagraph form decoded as selective; want an error")
			}
		})
	}
}

// fullFromSelective builds get_metagraph's answer from a selective answer
// holding every field: Some, then each of fields 0-71 without its tag.
func fullFromSelective(sel []byte, spans *[selectiveFields]span) []byte {
	out := []byte{1}
	for i := range metagraphFields {
		out = append(out, sel[spans[i].start:spans[i].end]...)
	}
	return out
}

// Under dTAO the two rules measure different things. At block 6852690,
// uid 24 owns 959.87 alpha itself (Fiber 2.1) but holds 58036.81 after
// delegation and TAO weight (Fiber 2.5): a min_stake of 1000 refuses it
// under one rule and accepts it under the other.
func TestStakeRulesDiffer(t *testing.T) {
	_, lb := loadLite(t, "chain/neurons_lite_netuid1_spec343_block6852690.json")
	ns, err := DecodeNeuronsLite(lb, false)
	if err != nil {
		t.Fatal(err)
	}
	sf := loadSelective(t, "chain/selective_mechagraph_netuid1_spec343_block6852690.json")
	m, err := DecodeSelectiveMetagraph(unhex(t, sf.ResultHex))
	if err != nil {
		t.Fatal(err)
	}
	lite := NodesFromNeurons(ns)
	meta, err := NodesFromMetagraph(m, 1)
	if err != nil {
		t.Fatal(err)
	}
	// The same block: the same hotkeys at the same uids.
	for uid := range lite {
		if lite[uid].Hotkey != meta[uid].Hotkey {
			t.Fatalf("uid %d: hotkeys differ between the two answers of one block", uid)
		}
	}
	if got := lite[24].Stake; got != 959.873144507 {
		t.Errorf("uid 24 under fiber_2_1: got %v, want 959.873144507", got)
	}
	if got := meta[24].Stake; got != 58036.807815746004 {
		t.Errorf("uid 24 under fiber_2_5: got %v, want 58036.807815746004", got)
	}
	count := func(nodes []Node, min float64) (n int) {
		for _, x := range nodes {
			if x.Stake >= min {
				n++
			}
		}
		return n
	}
	// Counted independently from the fixtures' decoded numbers.
	lf, _ := loadLite(t, "chain/neurons_lite_netuid1_spec343_block6852690.json")
	want21, want25 := 0, 0
	for _, n := range lf.Decoded.Neurons {
		if n.FiberLiteStake >= 1000 {
			want21++
		}
	}
	for _, n := range sf.Decoded.Neurons {
		if n.Fiber25.Stake >= 1000 {
			want25++
		}
	}
	if got := count(lite, 1000); got != want21 {
		t.Errorf("fiber_2_1: %d neurons at 1000 or more, want %d", got, want21)
	}
	if got := count(meta, 1000); got != want25 {
		t.Errorf("fiber_2_5: %d neurons at 1000 or more, want %d", got, want25)
	}
	if want21 == want25 {
		t.Errorf("both rules admit %d neurons; the fixture should tell them apart", want21)
	}
}

func TestDecodeNeuronsLiteErrors(t *testing.T) {
	_, b := loadLite(t, "chain/neurons_lite_netuid1_spec343_block6852690.json")
	one := append([]byte{0x04}, b[2:185]...) // the first neuron alone
	if ns, err := DecodeNeuronsLite(one, false); err != nil || len(ns) != 1 || ns[0].UID != 0 {
		t.Fatalf("first neuron alone: got %d, %v", len(ns), err)
	}
	cases := []struct {
		name string
		in   []byte
		err  error
	}{
		{"empty", nil, scale.ErrTruncated},
		{"count over the rest", append([]byte{0x08}, one[1:]...), scale.ErrLength},
		{"huge count", append([]byte{0x13, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, one[1:]...), scale.ErrLength},
		{"truncated", one[:len(one)-1], scale.ErrTruncated},
		{"trailing byte", append(append([]byte{}, one...), 0), scale.ErrTrailing},
		{"active is 2", patch(one, 1+66, 2), scale.ErrBool},
		{"uid not canonical", splice(one, 1+64, 1, []byte{0x01, 0x00}), scale.ErrNonCanonical},
		{"stake list over the rest", patch(one, 1+132, 0xfc), scale.ErrLength},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns, err := DecodeNeuronsLite(tc.in, false)
			if !errors.Is(err, tc.err) {
				t.Errorf("got %d neurons, %v, want %v", len(ns), err, tc.err)
			}
		})
	}
	t.Run("wrapper length wrong", func(t *testing.T) {
		inner := one
		w := append(encodeLen(len(inner)+1), inner...)
		if _, err := DecodeNeuronsLite(w, true); !errors.Is(err, scale.ErrLength) {
			t.Errorf("got %v, want ErrLength", err)
		}
		w = append(append(encodeLen(len(inner)), inner...), 0)
		if _, err := DecodeNeuronsLite(w, true); !errors.Is(err, scale.ErrTrailing) {
			t.Errorf("byte after the wrapper: got %v, want ErrTrailing", err)
		}
	})
}

func patch(b []byte, at int, v byte) []byte {
	out := append([]byte{}, b...)
	out[at] = v
	return out
}

func splice(b []byte, at, n int, with []byte) []byte {
	out := append([]byte{}, b[:at]...)
	out = append(out, with...)
	return append(out, b[at+n:]...)
}

// encodeLen writes a compact length.
func encodeLen(n int) []byte {
	switch {
	case n < 1<<6:
		return []byte{byte(n << 2)}
	case n < 1<<14:
		v := n<<2 | 1
		return []byte{byte(v), byte(v >> 8)}
	}
	v := n<<2 | 2
	return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
}

func TestDecodeMetagraphErrors(t *testing.T) {
	if _, err := DecodeMetagraph([]byte{0}); !errors.Is(err, ErrNoSubnet) {
		t.Errorf("None: got %v, want ErrNoSubnet", err)
	}
	if _, err := DecodeSelectiveMetagraph([]byte{0}); !errors.Is(err, ErrNoSubnet) {
		t.Errorf("selective None: got %v, want ErrNoSubnet", err)
	}
	if _, err := DecodeMetagraph([]byte{0, 0}); !errors.Is(err, scale.ErrTrailing) {
		t.Errorf("None and a byte: got %v, want ErrTrailing", err)
	}
	if _, err := DecodeMetagraph([]byte{2}); !errors.Is(err, scale.ErrOption) {
		t.Errorf("tag 2: got %v, want ErrOption", err)
	}
	// Only netuid asked for: every other field None.
	sel := append([]byte{1, 4}, make([]byte, selectiveFields-1)...)
	m, err := DecodeSelectiveMetagraph(sel)
	if err != nil || m.NetUID != 1 || !m.Has(0) || m.Has(fieldHotkeys) || m.Hotkeys != nil {
		t.Fatalf("netuid only: got %+v, %v", m, err)
	}
	if _, err := NodesFromMetagraph(m, 1); err != nil {
		t.Errorf("no hotkeys and no total_stake: got %v, want an empty list", err)
	}
	// Hotkeys without total_stake is not a list of nodes.
	withKeys := append([]byte{1, 4}, make([]byte, selectiveFields-1)...)
	at := 2 + fieldHotkeys - 1
	withKeys = splice(withKeys, at, 1, append([]byte{1, 4}, make([]byte, 32)...))
	m, err = DecodeSelectiveMetagraph(withKeys)
	if err != nil || len(m.Hotkeys) != 1 {
		t.Fatalf("one hotkey: got %+v, %v", m, err)
	}
	if _, err := NodesFromMetagraph(m, 1); !errors.Is(err, errShort) {
		t.Errorf("hotkeys without total_stake: got %v, want errShort", err)
	}
	// A huge vector length is refused before allocation.
	huge := splice(sel, at, 1, []byte{1, 0x13, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	if _, err := DecodeSelectiveMetagraph(huge); !errors.Is(err, scale.ErrLength) {
		t.Errorf("huge hotkeys length: got %v, want ErrLength", err)
	}
	// A name byte above 255.
	name := splice(sel, 2, 1, []byte{1, 4, 0x01, 0x04})
	if _, err := DecodeSelectiveMetagraph(name); !errors.Is(err, scale.ErrRange) {
		t.Errorf("name byte 256: got %v, want ErrRange", err)
	}
}

func TestRuntimeRanges(t *testing.T) {
	cases := []struct {
		spec       uint32
		allowNewer bool
		wrapped    bool
		liteErr    bool
		metaErr    bool
	}{
		{204, false, false, true, true},
		{205, false, true, false, true},
		{208, false, true, false, true},
		{219, false, true, false, true},
		{220, false, false, true, true},
		{232, false, false, true, true},
		{233, false, false, false, true},
		{314, false, false, false, true},
		{315, false, false, false, false},
		{343, false, false, false, false},
		{425, false, false, false, false},
		{426, false, false, true, true},
		{426, true, false, false, false},
		{220, true, false, true, true},
	}
	for _, tc := range cases {
		wrapped, err := liteWrapped(tc.spec, tc.allowNewer)
		if (err != nil) != tc.liteErr || wrapped != tc.wrapped {
			t.Errorf("spec %d (allow newer %v): neurons lite got wrapped %v, %v", tc.spec, tc.allowNewer, wrapped, err)
		}
		if err != nil && !errors.Is(err, ErrUnsupportedRuntime) {
			t.Errorf("spec %d: got %v, want ErrUnsupportedRuntime", tc.spec, err)
		}
		if err := metagraphKnown(tc.spec, tc.allowNewer); (err != nil) != tc.metaErr {
			t.Errorf("spec %d (allow newer %v): metagraph got %v", tc.spec, tc.allowNewer, err)
		}
	}
	err := metagraphKnown(233, false)
	if want := "SubnetInfoRuntimeApi_get_metagraph at runtime spec 233 is not a known layout (supported: 315-425"; !strings.Contains(err.Error(), want) {
		t.Errorf("error text: got %q, want it to contain %q", err, want)
	}
}

func BenchmarkDecodeNeuronsLite(b *testing.B) {
	_, in := loadLite(b, "chain/neurons_lite_netuid1_spec343_block6852690.json")
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeNeuronsLite(in, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSelectiveMetagraph(b *testing.B) {
	f := loadSelective(b, "chain/selective_mechagraph_netuid1_spec343_block6852690.json")
	in := unhex(b, f.ResultHex)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeSelectiveMetagraph(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNodesFromNeurons(b *testing.B) {
	_, in := loadLite(b, "chain/neurons_lite_netuid1_spec343_block6852690.json")
	ns, err := DecodeNeuronsLite(in, false)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		NodesFromNeurons(ns)
	}
}
