package chain

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// RaoToTao is Python's int / int: the double nearest rao / 10^9, ties to
// even, also above 2^53 where float64(rao) would round first.
func TestRaoToTao(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := []uint64{0, 1, 999999999, 1e9, 2557172316, 1<<53 - 1, 1 << 53, 1<<53 + 1, 1<<63 + 12345, math.MaxUint64}
	for range 2000 {
		values = append(values, r.Uint64()>>r.IntN(64))
	}
	billion := big.NewRat(1e9, 1)
	for _, rao := range values {
		got := RaoToTao(rao)
		exact := new(big.Rat).Quo(new(big.Rat).SetInt(new(big.Int).SetUint64(rao)), billion)
		// No double is closer to the exact quotient than got.
		d := dist(got, exact)
		for _, n := range []float64{math.Nextafter(got, math.Inf(1)), math.Nextafter(got, math.Inf(-1))} {
			if c := dist(n, exact).Cmp(d); c < 0 || (c == 0 && math.Float64bits(got)&1 == 1) {
				t.Fatalf("RaoToTao(%d) = %v, but %v is nearer (or as near and even)", rao, got, n)
			}
		}
	}
	// Where the two roundings differ: float64(rao) rounds first.
	// Python: 9007199254740995 / 10**9 == 9007199.254740994, while
	// float(9007199254740995) / 1e9 == 9007199.254740996.
	rao := uint64(9007199254740995)
	if got := RaoToTao(rao); got != 9007199.254740994 || float64(rao)/1e9 != 9007199.254740996 {
		t.Errorf("RaoToTao(%d): got %v, want 9007199.254740994 (the naive quotient is 9007199.254740996)", rao, got)
	}
}

func dist(f float64, exact *big.Rat) *big.Rat {
	d := new(big.Rat).Sub(new(big.Rat).SetFloat64(f), exact)
	return d.Abs(d)
}

func TestLiteStake(t *testing.T) {
	a, b := [32]byte{1}, [32]byte{2}
	cases := []struct {
		name    string
		entries []StakeEntry
		want    float64
	}{
		{"none", nil, 0},
		{"one", []StakeEntry{{a, 2557172316}}, 2.557172316},
		{"two coldkeys", []StakeEntry{{a, 1e9}, {b, 5e8}}, 1.5},
		// A dict keeps the last amount of a coldkey at its first place.
		{"same coldkey twice", []StakeEntry{{a, 7e9}, {b, 5e8}, {a, 1e9}}, 1.5},
		// Left to right: 0.1 + 0.2 is 0.30000000000000004 in doubles.
		{"summed in order", []StakeEntry{{a, 1e8}, {b, 2e8}}, 0.30000000000000004},
	}
	for _, tc := range cases {
		if got := LiteStake(tc.entries); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestMetagraphStake(t *testing.T) {
	// The README's example uid: total_stake * 1e-09 is not total / 1e9.
	if got := MetagraphStake(58036807815746); got != 58036.807815746004 {
		t.Errorf("got %v, want 58036.807815746004", got)
	}
	if float64(58036807815746)/1e9 == 58036.807815746004 {
		t.Errorf("the example should tell multiplication from division")
	}
}

func TestIPText(t *testing.T) {
	cases := []struct {
		lo, hi       uint64
		text, number string
	}{
		{0, 0, "0.0.0.0", "0"},
		{3235789677, 0, "192.222.59.109", "3235789677"},
		{1<<32 - 1, 0, "255.255.255.255", "4294967295"},
		{1 << 32, 0, "::1:0:0", "4294967296"},
		{1, 0x20010db800000000, "2001:db8::1", "42540766411282592856903984951653826561"},
		{0xffff0a000001, 0, "::ffff:10.0.0.1", "281470849515521"},
	}
	for _, tc := range cases {
		if got := ipText(tc.lo, tc.hi); got != tc.text {
			t.Errorf("ipText(%d:%d): got %q, want %q", tc.hi, tc.lo, got, tc.text)
		}
		if got := ipDecimal(tc.lo, tc.hi); got != tc.number {
			t.Errorf("ipDecimal(%d:%d): got %q, want %q", tc.hi, tc.lo, got, tc.number)
		}
	}
}

func TestStakeRuleString(t *testing.T) {
	if StakeFiber21.String() != "fiber_2_1" || StakeFiber25.String() != "fiber_2_5" || StakeRule(9).String() != "StakeRule(9)" {
		t.Errorf("got %s %s %s", StakeFiber21, StakeFiber25, StakeRule(9))
	}
}
