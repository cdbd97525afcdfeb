package chain

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// appendCompact appends v in SCALE's shortest compact form.
func appendCompact(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v<<2))
	case v < 1<<14:
		return binary.LittleEndian.AppendUint16(b, uint16(v<<2|1))
	case v < 1<<30:
		return binary.LittleEndian.AppendUint32(b, uint32(v<<2|2))
	}
	n := 8
	for v>>(8*(n-1)) == 0 {
		n--
	}
	b = append(b, byte(n-4)<<2|3)
	for i := range n {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// encodeNeurons is the reference encoder of Vec<NeuronInfoLite>.
func encodeNeurons(ns []Neuron) []byte {
	b := appendCompact(nil, uint64(len(ns)))
	for _, n := range ns {
		b = append(b, n.Hotkey[:]...)
		b = append(b, n.Coldkey[:]...)
		b = appendCompact(b, uint64(n.UID))
		b = appendCompact(b, uint64(n.NetUID))
		b = appendBool(b, n.Active)
		a := n.Axon
		b = binary.LittleEndian.AppendUint64(b, a.Block)
		b = binary.LittleEndian.AppendUint32(b, a.Version)
		b = binary.LittleEndian.AppendUint64(b, a.IPLo)
		b = binary.LittleEndian.AppendUint64(b, a.IPHi)
		b = binary.LittleEndian.AppendUint16(b, a.Port)
		b = append(b, a.IPType, a.Protocol, a.Placeholder1, a.Placeholder2)
		p := n.Prometheus
		b = binary.LittleEndian.AppendUint64(b, p.Block)
		b = binary.LittleEndian.AppendUint32(b, p.Version)
		b = binary.LittleEndian.AppendUint64(b, p.IPLo)
		b = binary.LittleEndian.AppendUint64(b, p.IPHi)
		b = binary.LittleEndian.AppendUint16(b, p.Port)
		b = append(b, p.IPType)
		b = appendCompact(b, uint64(len(n.Stake)))
		for _, s := range n.Stake {
			b = append(b, s.Coldkey[:]...)
			b = appendCompact(b, s.Amount)
		}
		for _, v := range []uint64{uint64(n.Rank), n.Emission, uint64(n.Incentive), uint64(n.Consensus),
			uint64(n.Trust), uint64(n.ValidatorTrust), uint64(n.Dividends), n.LastUpdate} {
			b = appendCompact(b, v)
		}
		b = appendBool(b, n.ValidatorPermit)
		b = appendCompact(b, uint64(n.PruningScore))
	}
	return b
}

// The reference encoder gives back the recorded bytes, so the fuzz
// target's round trip checks the decoder against the real layout.
func TestEncodeNeuronsRoundTrip(t *testing.T) {
	_, b := loadLite(t, "chain/neurons_lite_netuid1_spec343_block6852690.json")
	ns, err := DecodeNeuronsLite(b, false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encodeNeurons(ns), b) {
		t.Errorf("re-encoding the spec-343 neurons does not give the recorded bytes")
	}
}

// FuzzDecodeNeuronsLite checks that no input panics or over-allocates, and
// that whatever decodes re-encodes to exactly the input: the decoder
// accepts only canonical encodings and uses every byte.
func FuzzDecodeNeuronsLite(f *testing.F) {
	_, b := loadLite(f, "chain/neurons_lite_netuid1_spec343_block6852690.json")
	one := append([]byte{0x04}, b[2:185]...)
	f.Add(one, false)
	two := append([]byte{0x08}, b[2:185+183]...)
	f.Add(two, false)
	f.Add(append([]byte{0x04}, one...), true) // wrong wrapper length
	_, w := loadLite(f, "chain/neurons_lite_netuid23_spec208_block3264143.json")
	f.Add(w, true)
	f.Add([]byte{0x13, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, false)
	f.Fuzz(func(t *testing.T, in []byte, wrapped bool) {
		ns, err := DecodeNeuronsLite(in, wrapped)
		if err != nil {
			return
		}
		if len(ns)*minNeuronSize > len(in) {
			t.Fatalf("%d neurons from %d bytes", len(ns), len(in))
		}
		out := encodeNeurons(ns)
		if wrapped {
			out = append(appendCompact(nil, uint64(len(out))), out...)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("decoded %d neurons that re-encode differently:\n in %x\nout %x", len(ns), in, out)
		}
		for _, n := range NodesFromNeurons(ns) {
			if n.Stake < 0 || n.Stake != n.Stake {
				t.Fatalf("stake %v", n.Stake)
			}
		}
	})
}

// minimalMetagraph encodes a Metagraph (or SelectiveMetagraph with every
// field present) whose every field is zero or empty.
func minimalMetagraph(selective bool) []byte {
	b := []byte{1}
	fields := metagraphFields
	if selective {
		fields = selectiveFields
	}
	for i := range fields {
		if selective && i != fieldNetUID {
			b = append(b, 1)
		}
		switch metagraphLayout[i] {
		case kAccount:
			b = append(b, make([]byte, 32)...)
		case kI128:
			b = append(b, make([]byte, 16)...)
		default: // a zero compact, false, None or an empty vector
			b = append(b, 0)
		}
	}
	return b
}

// FuzzDecodeMetagraph checks that no input panics or over-allocates, and
// that a decoded metagraph either yields one node per hotkey or is refused
// as incomplete.
func FuzzDecodeMetagraph(f *testing.F) {
	f.Add(minimalMetagraph(false), false)
	f.Add(minimalMetagraph(true), true)
	f.Add(append([]byte{1, 4}, make([]byte, selectiveFields-1)...), true)
	// One hotkey with its total stake, in the selective form.
	one := append([]byte{1, 4}, make([]byte, selectiveFields-1)...)
	one = splice(one, 2+fieldTotalStake-1, 1, []byte{1, 4, 0x03, 0x5c, 0x5a, 0x6b, 0x98})
	one = splice(one, 2+fieldHotkeys-1, 1, append([]byte{1, 4}, bytes.Repeat([]byte{7}, 32)...))
	f.Add(one, true)
	f.Add([]byte{0}, false)
	f.Fuzz(func(t *testing.T, in []byte, selective bool) {
		var m *Metagraph
		var err error
		if selective {
			m, err = DecodeSelectiveMetagraph(in)
		} else {
			m, err = DecodeMetagraph(in)
		}
		if err != nil {
			return
		}
		if 32*len(m.Hotkeys)+len(m.TotalStake) > len(in) {
			t.Fatalf("%d hotkeys and %d stakes from %d bytes", len(m.Hotkeys), len(m.TotalStake), len(in))
		}
		nodes, err := NodesFromMetagraph(m, m.NetUID)
		if err != nil {
			if len(m.TotalStake) == len(m.Hotkeys) {
				t.Fatalf("refused matching vectors: %v", err)
			}
			return
		}
		if len(nodes) != len(m.Hotkeys) {
			t.Fatalf("%d nodes for %d hotkeys", len(nodes), len(m.Hotkeys))
		}
	})
}

func TestMinimalMetagraph(t *testing.T) {
	for _, sel := range []bool{false, true} {
		m, err := decodeMetagraph(minimalMetagraph(sel), sel, nil)
		if err != nil || m.NetUID != 0 || len(m.Hotkeys) != 0 {
			t.Errorf("selective %v: got %+v, %v", sel, m, err)
		}
	}
}
