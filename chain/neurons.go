package chain

import (
	"fmt"

	"github.com/fibergate/fibergate/chain/scale"
)

// The runtime API calls, as state_call names them.
const (
	liteCall      = "NeuronInfoRuntimeApi_get_neurons_lite"
	metagraphCall = "SubnetInfoRuntimeApi_get_metagraph"
)

// AxonInfo is where a neuron serves. IP is a u128: an IPv4 address when
// below 2^32.
type AxonInfo struct {
	Block        uint64
	Version      uint32
	IPLo, IPHi   uint64 // the u128 ip, low and high halves
	Port         uint16
	IPType       uint8 // 4, 6, or 0 if never served
	Protocol     uint8
	Placeholder1 uint8
	Placeholder2 uint8
}

// PrometheusInfo is where a neuron exports metrics.
type PrometheusInfo struct {
	Block      uint64
	Version    uint32
	IPLo, IPHi uint64
	Port       uint16
	IPType     uint8
}

// StakeEntry is one (coldkey, amount) of a neuron's stake list, the amount
// in rao (1e-9 of a TAO or, under dTAO, of the subnet's alpha).
type StakeEntry struct {
	Coldkey [32]byte
	Amount  uint64
}

// Neuron is one NeuronInfoLite, every field as on the wire.
type Neuron struct {
	Hotkey          [32]byte
	Coldkey         [32]byte
	UID             uint16
	NetUID          uint16
	Active          bool
	Axon            AxonInfo
	Prometheus      PrometheusInfo
	Stake           []StakeEntry
	Rank            uint16
	Emission        uint64
	Incentive       uint16
	Consensus       uint16
	Trust           uint16
	ValidatorTrust  uint16
	Dividends       uint16
	LastUpdate      uint64
	ValidatorPermit bool
	PruningScore    uint16
}

// Smallest encodings, which bound vector lengths before allocation.
const (
	axonSize       = 8 + 4 + 16 + 2 + 1 + 1 + 1 + 1
	prometheusSize = 8 + 4 + 16 + 2 + 1
	// minNeuronSize: two account ids, the axon and prometheus infos, two
	// bools, and twelve compacts or lengths of at least a byte each.
	minNeuronSize  = 32 + 32 + axonSize + prometheusSize + 2 + 12
	stakeEntrySize = 32 + 1
)

// DecodeNeuronsLite decodes the answer of get_neurons_lite: a
// Vec<NeuronInfoLite>, wrapped once more in a Vec<u8> when wrapped is set
// (runtimes before dTAO). Every byte must be used.
func DecodeNeuronsLite(b []byte, wrapped bool) ([]Neuron, error) {
	d := scale.NewDecoder(b)
	if wrapped {
		inner := d.ByteVec()
		if err := d.Finish(); err != nil {
			return nil, fmt.Errorf("decoding neurons: the Vec<u8> wrapper: %w", err)
		}
		d.Reset(inner)
	}
	n := d.Len(minNeuronSize)
	out := make([]Neuron, n)
	for i := range out {
		decodeNeuron(d, &out[i])
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("decoding neurons: %w", err)
	}
	return out, nil
}

func decodeNeuron(d *scale.Decoder, n *Neuron) {
	n.Hotkey = d.AccountID()
	n.Coldkey = d.AccountID()
	n.UID = d.CompactU16()
	n.NetUID = d.CompactU16()
	n.Active = d.Bool()
	decodeAxon(d, &n.Axon)
	p := &n.Prometheus
	p.Block, p.Version = d.U64(), d.U32()
	p.IPLo, p.IPHi = d.U128()
	p.Port, p.IPType = d.U16(), d.U8()
	if k := d.Len(stakeEntrySize); k > 0 {
		n.Stake = make([]StakeEntry, k)
		for j := range n.Stake {
			n.Stake[j] = StakeEntry{Coldkey: d.AccountID(), Amount: d.Compact()}
		}
	}
	n.Rank = d.CompactU16()
	n.Emission = d.Compact()
	n.Incentive = d.CompactU16()
	n.Consensus = d.CompactU16()
	n.Trust = d.CompactU16()
	n.ValidatorTrust = d.CompactU16()
	n.Dividends = d.CompactU16()
	n.LastUpdate = d.Compact()
	n.ValidatorPermit = d.Bool()
	n.PruningScore = d.CompactU16()
}

func decodeAxon(d *scale.Decoder, a *AxonInfo) {
	a.Block, a.Version = d.U64(), d.U32()
	a.IPLo, a.IPHi = d.U128()
	a.Port = d.U16()
	a.IPType, a.Protocol, a.Placeholder1, a.Placeholder2 = d.U8(), d.U8(), d.U8(), d.U8()
}
