package loadgen

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/internal/testvectors"
	"github.com/fibergate/fibergate/validators"
)

func TestNodesFileLoads(t *testing.T) {
	const n, stake = 5, 2500
	data, err := NodesFile(DefaultSeedPrefix, n, stake)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "nodes.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	reg, err := validators.New(validators.Options{NodesFile: path})
	if err != nil {
		t.Fatalf("validators.New: %v\n%s", err, data)
	}
	if got := reg.Current().Len(); got != n {
		t.Errorf("loaded %d validators, want %d", got, n)
	}
	for i := range n {
		kp, err := ValidatorKey(DefaultSeedPrefix, i)
		if err != nil {
			t.Fatal(err)
		}
		v, ok := reg.Current().Lookup(kp.Public())
		if !ok || v.Stake != stake {
			t.Errorf("validator %d: got %+v, %v; want it listed with stake %v", i, v, ok, stake)
		}
	}
	// Another prefix gives other keys.
	other, err := ValidatorKey("another-prefix-", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.Current().Lookup(other.Public()); ok {
		t.Error("a validator under another prefix is listed")
	}
}

// TestNodesFileShape compares the entries with the nodes of a real Fiber
// metagraph: the same fields, keyed by hotkey, node ids in order.
func TestNodesFileShape(t *testing.T) {
	var transcript struct {
		Metagraph struct {
			Nodes map[string]map[string]any `json:"nodes"`
		} `json:"metagraph"`
	}
	testvectors.Load(t, "transcript-fiber-2.1.json", &transcript)
	var fiberFields []string
	for _, node := range transcript.Metagraph.Nodes {
		for k := range node {
			fiberFields = append(fiberFields, k)
		}
		break
	}
	slices.Sort(fiberFields)
	if len(fiberFields) == 0 {
		t.Fatal("the transcript has no nodes")
	}

	data, err := NodesFile("", 3, 5000)
	if err != nil {
		t.Fatal(err)
	}
	var nodes map[string]map[string]any
	if err := json.Unmarshal(data, &nodes); err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 3 {
		t.Fatalf("got %d nodes, want 3", len(nodes))
	}
	ids := map[float64]bool{}
	for key, node := range nodes {
		var fields []string
		for k := range node {
			fields = append(fields, k)
		}
		slices.Sort(fields)
		if !slices.Equal(fields, fiberFields) {
			t.Errorf("node %s: fields %v, want Fiber's %v", key, fields, fiberFields)
		}
		if node["hotkey"] != key || node["coldkey"] != key {
			t.Errorf("node %s: hotkey %v, coldkey %v; want both the key", key, node["hotkey"], node["coldkey"])
		}
		id, _ := node["node_id"].(float64)
		kp, err := ValidatorKey(DefaultSeedPrefix, int(id))
		if err != nil {
			t.Fatal(err)
		}
		if want := ss58.Encode(kp.Public(), ss58.Bittensor); key != want {
			t.Errorf("node_id %v: hotkey %s, want %s (validator %v)", id, key, want, id)
		}
		ids[id] = true
	}
	if len(ids) != 3 || !ids[0] || !ids[1] || !ids[2] {
		t.Errorf("node ids %v, want 0, 1, 2", ids)
	}
}

func TestNodesFileRefusesBadArguments(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     int
		stake float64
	}{
		{"no validators", 0, 1},
		{"negative stake", 1, -1},
		{"too many", maxValidators + 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if data, err := NodesFile("", tc.n, tc.stake); err == nil {
				t.Errorf("got %d bytes, want an error", len(data))
			}
		})
	}
}

// TestValidatorSeed pins the documented derivation: the seed of validator
// i is sha256 of "fibergate-bench-validator-<i>" (the digests below come
// from sha256sum, not from this package), and ValidatorKey uses it.
func TestValidatorSeed(t *testing.T) {
	tests := []struct {
		i    int
		want string
	}{
		{0, "24eb1e520e908b9797370799a0c00f7eca3016416fe8256e29bfd1ec5bba5a47"},
		{7, "19ef06500f48c63f80d0d25d57cad78c5a734571cf70c3f46894ea1bdbc0aa17"},
	}
	for _, tc := range tests {
		seed := ValidatorSeed(DefaultSeedPrefix, tc.i)
		if got := hex.EncodeToString(seed[:]); got != tc.want {
			t.Errorf("validator %d: seed %s, want %s", tc.i, got, tc.want)
		}
		kp, err := sr25519.KeypairFromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ValidatorKey(DefaultSeedPrefix, tc.i)
		if err != nil {
			t.Fatal(err)
		}
		if got.Public() != kp.Public() {
			t.Errorf("validator %d: ValidatorKey is not the key of ValidatorSeed", tc.i)
		}
	}
}
