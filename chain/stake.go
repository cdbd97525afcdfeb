package chain

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"strconv"

	"github.com/fibergate/fibergate/crypto/ss58"
)

// StakeRule says which number is a neuron's stake, as one Fiber version
// computes it.
type StakeRule int

const (
	// StakeFiber21 is Fiber 2.1's rule (2.2 computes the same): the sum of
	// the neuron's get_neurons_lite stake entries, each int(rao) / 10**9.
	// Before dTAO that is the hotkey's TAO stake; under dTAO it is the
	// hotkey's own alpha in the subnet, not counting delegation.
	StakeFiber21 StakeRule = iota
	// StakeFiber25 is Fiber 2.3 to 2.5's rule: get_metagraph's total_stake
	// of the uid times 1e-09, that is alpha stake plus TAO stake weighted
	// by the chain's TaoWeight, both after delegation.
	StakeFiber25
)

// String returns the rule's config spelling.
func (r StakeRule) String() string {
	switch r {
	case StakeFiber21:
		return "fiber_2_1"
	case StakeFiber25:
		return "fiber_2_5"
	}
	return "StakeRule(" + strconv.Itoa(int(r)) + ")"
}

// LiteStake returns a neuron's stake under Fiber 2.1's rule, the IEEE
// double Python computes for
//
//	sum({ss58(coldkey): int(rao) / 10**9 for coldkey, rao in stake}.values())
//
// Entries of the same coldkey collapse to the last one's amount, kept at
// the first one's place, as a dict does. Each quotient is correctly
// rounded, as Python's int / int is. The sum is taken left to right, as
// Python up to 3.11 does (3.12 compensates rounding in sum of floats; the
// two differ only in the last bits, and only with several entries, which
// no runtime since dTAO sends).
func LiteStake(entries []StakeEntry) float64 {
	if len(entries) == 1 {
		return RaoToTao(entries[0].Amount)
	}
	amounts := make([]uint64, 0, len(entries))
	keys := make([][32]byte, 0, len(entries))
next:
	for _, e := range entries {
		for i, k := range keys {
			if k == e.Coldkey {
				amounts[i] = e.Amount
				continue next
			}
		}
		keys = append(keys, e.Coldkey)
		amounts = append(amounts, e.Amount)
	}
	sum := 0.0
	for _, a := range amounts {
		sum += RaoToTao(a)
	}
	return sum
}

// RaoToTao returns rao / 10^9 rounded to the nearest double, ties to even:
// Python's int(rao) / 10**9.
func RaoToTao(rao uint64) float64 {
	if rao < 1<<53 {
		// Both operands are exact, and IEEE division rounds correctly.
		return float64(rao) / 1e9
	}
	f, _ := new(big.Rat).SetFrac(new(big.Int).SetUint64(rao), big.NewInt(1e9)).Float64()
	return f
}

// MetagraphStake returns a total_stake (or alpha_stake, tao_stake) amount
// under Fiber 2.5's rule, the double Python computes for amount * 10**-9:
// the amount rounded to a double, times the double 1e-09. That is a
// multiplication, and its last bit can differ from amount / 1e9.
func MetagraphStake(rao uint64) float64 {
	return float64(rao) * 1e-09
}

// Node is one neuron as Fiber records it, and as Fiber's nodes.json holds
// it (the JSON field names are Fiber's). The numbers are the ones the
// Fiber version of the stake rule computes.
type Node struct {
	Hotkey    string  `json:"hotkey"`
	Coldkey   string  `json:"coldkey"`
	NodeID    int     `json:"node_id"`
	Incentive float64 `json:"incentive"`
	NetUID    int     `json:"netuid"`
	// AlphaStake and TaoStake are set under StakeFiber25 only, as only
	// Fiber 2.3 and later record them.
	AlphaStake  *float64 `json:"alpha_stake,omitempty"`
	TaoStake    *float64 `json:"tao_stake,omitempty"`
	Stake       float64  `json:"stake"`
	Trust       float64  `json:"trust"`
	VTrust      float64  `json:"vtrust"`
	LastUpdated float64  `json:"last_updated"`
	IP          string   `json:"ip"`
	IPType      int      `json:"ip_type"`
	Port        int      `json:"port"`
	Protocol    int      `json:"protocol"`

	// PublicKey is the decoded hotkey.
	PublicKey [32]byte `json:"-"`
	// ValidatorPermit says whether the neuron holds a validator permit.
	// Fiber does not look at it: every neuron with the stake may talk.
	ValidatorPermit bool `json:"-"`
}

const u16Max = 65535

// NodesFromNeurons turns get_neurons_lite's neurons into nodes as Fiber
// 2.1 does: stake by LiteStake, trust and vtrust (validator_trust) divided
// by 65535, incentive raw, ip as text (dotted quad below 2^32).
func NodesFromNeurons(ns []Neuron) []Node {
	out := make([]Node, len(ns))
	for i := range ns {
		n := &ns[i]
		out[i] = Node{
			Hotkey:          ss58.Encode(n.Hotkey, ss58.Bittensor),
			Coldkey:         ss58.Encode(n.Coldkey, ss58.Bittensor),
			NodeID:          int(n.UID),
			Incentive:       float64(n.Incentive),
			NetUID:          int(n.NetUID),
			Stake:           LiteStake(n.Stake),
			Trust:           float64(n.Trust) / u16Max,
			VTrust:          float64(n.ValidatorTrust) / u16Max,
			LastUpdated:     float64(n.LastUpdate),
			IP:              ipText(n.Axon.IPLo, n.Axon.IPHi),
			IPType:          int(n.Axon.IPType),
			Port:            int(n.Axon.Port),
			Protocol:        int(n.Axon.Protocol),
			PublicKey:       n.Hotkey,
			ValidatorPermit: n.ValidatorPermit,
		}
	}
	return out
}

// errShort means a per-uid vector the nodes need is shorter than the list
// of hotkeys.
var errShort = errors.New("shorter than hotkeys")

// NodesFromMetagraph turns a metagraph into nodes as Fiber 2.5 does: stake,
// alpha_stake and tao_stake by MetagraphStake, incentive and trust raw,
// vtrust from consensus (as Fiber has it), ip as the decimal integer.
// hotkeys and total_stake must be present and of one length; the other
// vectors count as zero where they are short (trust is empty from spec 401).
func NodesFromMetagraph(m *Metagraph, netuid uint16) ([]Node, error) {
	n := len(m.Hotkeys)
	if len(m.TotalStake) != n {
		return nil, fmt.Errorf("total_stake has %d entries for %d hotkeys: %w", len(m.TotalStake), n, errShort)
	}
	out := make([]Node, n)
	for uid, hk := range m.Hotkeys {
		alpha := MetagraphStake(at(m.AlphaStake, uid))
		tao := MetagraphStake(at(m.TaoStake, uid))
		var axon AxonInfo
		if uid < len(m.Axons) {
			axon = m.Axons[uid]
		}
		var coldkey [32]byte
		if uid < len(m.Coldkeys) {
			coldkey = m.Coldkeys[uid]
		}
		out[uid] = Node{
			Hotkey:          ss58.Encode(hk, ss58.Bittensor),
			Coldkey:         ss58.Encode(coldkey, ss58.Bittensor),
			NodeID:          uid,
			Incentive:       float64(at(m.Incentives, uid)),
			NetUID:          int(netuid),
			AlphaStake:      &alpha,
			TaoStake:        &tao,
			Stake:           MetagraphStake(m.TotalStake[uid]),
			Trust:           float64(at(m.Trust, uid)),
			VTrust:          float64(at(m.Consensus, uid)),
			LastUpdated:     float64(at(m.LastUpdate, uid)),
			IP:              ipDecimal(axon.IPLo, axon.IPHi),
			IPType:          int(axon.IPType),
			Port:            int(axon.Port),
			Protocol:        int(axon.Protocol),
			PublicKey:       hk,
			ValidatorPermit: uid < len(m.ValidatorPermit) && m.ValidatorPermit[uid],
		}
	}
	return out, nil
}

func at[T uint16 | uint64](v []T, i int) T {
	if i < len(v) {
		return v[i]
	}
	return 0
}

// ipText writes a u128 address as Fiber 2.1 does (netaddr): an IPv4
// dotted quad below 2^32, IPv6 text otherwise.
func ipText(lo, hi uint64) string {
	if hi == 0 && lo < 1<<32 {
		return netip.AddrFrom4([4]byte{byte(lo >> 24), byte(lo >> 16), byte(lo >> 8), byte(lo)}).String()
	}
	var b [16]byte
	for i := range 8 {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	return netip.AddrFrom16(b).String()
}

// ipDecimal writes a u128 address as Fiber 2.5 does: the decimal integer.
func ipDecimal(lo, hi uint64) string {
	if hi == 0 {
		return strconv.FormatUint(lo, 10)
	}
	v := new(big.Int).SetUint64(hi)
	v.Lsh(v, 64)
	return v.Or(v, new(big.Int).SetUint64(lo)).String()
}
