package validators

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/fibergate/fibergate/crypto/ss58"
)

// FuzzParseNodes checks that no input panics and that an accepted file
// holds only decodable, distinct keys with finite, non-negative stakes.
func FuzzParseNodes(f *testing.F) {
	_, a := key(1)
	f.Add([]byte(`{"` + a + `": {"hotkey": "` + a + `", "stake": 5000.0, "node_id": 1}}`))
	f.Add([]byte(`[{"hotkey": "` + a + `", "stake": 1}]`))
	f.Add([]byte(`[{"hotkey": "` + a + `", "stake": 1}, {"hotkey": "` + a + `", "stake": 1}]`))
	f.Add([]byte(`{"x": null}`))
	f.Add([]byte(`[1e400]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		vals, err := parseNodes(data, SourceNodesFile)
		if err != nil {
			return
		}
		// The walk over the JSON agrees with encoding/json on what the
		// entries are.
		var arr []json.RawMessage
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &arr) == nil {
			if len(arr) != len(vals) {
				t.Fatalf("%d entries accepted, encoding/json sees %d", len(vals), len(arr))
			}
		} else if err := json.Unmarshal(data, &obj); err != nil || len(obj) != len(vals) {
			t.Fatalf("%d entries accepted, encoding/json sees %d (%v)", len(vals), len(obj), err)
		}
		seen := make(map[[32]byte]bool)
		for _, v := range vals {
			pub, _, err := ss58.Decode(v.Hotkey)
			if err != nil || pub != v.PublicKey {
				t.Fatalf("entry %q: key %x does not match its hotkey (%v)", v.Hotkey, v.PublicKey, err)
			}
			if seen[pub] {
				t.Fatalf("entry %q: duplicate key accepted", v.Hotkey)
			}
			seen[pub] = true
			if math.IsNaN(v.Stake) || math.IsInf(v.Stake, 0) || v.Stake < 0 {
				t.Fatalf("entry %q: stake %v accepted", v.Hotkey, v.Stake)
			}
		}
	})
}
