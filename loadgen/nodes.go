package loadgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/fibergate/fibergate/chain"
	"github.com/fibergate/fibergate/crypto/ss58"
)

// NodesFile returns a Fiber nodes.json listing simulated validators 0 to
// n-1 under prefix (see ValidatorSeed), each with the given stake: a JSON
// object keyed by SS58 hotkey, in node-id order, whose values carry the
// fields of Fiber's node records (coldkey equal to the hotkey, no address).
// A target whose validators.nodes_file is this file accepts the validators
// Run simulates with the same prefix.
func NodesFile(prefix string, n int, stake float64) ([]byte, error) {
	if n < 1 || n > maxValidators {
		return nil, fmt.Errorf("loadgen: nodes file: %d validators: want 1 to %d", n, maxValidators)
	}
	if math.IsNaN(stake) || math.IsInf(stake, 0) || stake < 0 {
		return nil, errors.New("loadgen: nodes file: stake must be a finite number, 0 or more")
	}
	if prefix == "" {
		prefix = DefaultSeedPrefix
	}
	var b bytes.Buffer
	b.WriteString("{\n")
	for i := range n {
		kp, err := ValidatorKey(prefix, i)
		if err != nil {
			return nil, err
		}
		addr := ss58.Encode(kp.Public(), ss58.Bittensor)
		v, err := json.Marshal(chain.Node{
			Hotkey: addr, Coldkey: addr, NodeID: i, Stake: stake,
			IP: "0.0.0.0", IPType: 4, Protocol: 4,
		})
		if err != nil {
			return nil, fmt.Errorf("loadgen: nodes file: %w", err)
		}
		k, _ := json.Marshal(addr)
		b.WriteString("  ")
		b.Write(k)
		b.WriteString(": ")
		b.Write(v)
		if i < n-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}
