package nodes

import (
	"encoding/json"
	"strings"
	"testing"
)

// Parse reads the address fields Fiber's nodes.json carries, as each
// Fiber version writes them, and never fails on them: serve ignores them.
func TestParseAddresses(t *testing.T) {
	data := `{
	  "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY": {"hotkey": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", "node_id": 3, "ip": "192.222.59.109", "ip_type": 4, "port": 6028, "stake": 1},
	  "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty": {"hotkey": "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty", "node_id": 4, "ip": "3235789677", "ip_type": 4, "port": 8091},
	  "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y": {"hotkey": "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y", "node_id": "x", "ip": 167772161, "port": "8091"},
	  "5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy": {"hotkey": "5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy", "ip": {"v": 1}}
	}`
	nodes, err := Parse([]byte(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id, port, ipType int
		ip               string
		stake            bool
	}{
		{3, 6028, 4, "192.222.59.109", true},
		{4, 8091, 4, "3235789677", false},
		{-1, 0, 0, "167772161", false},
		{-1, 0, 0, "", false},
	}
	for i, w := range want {
		n := nodes[i]
		if n.NodeID != w.id || n.Port != w.port || n.IPType != w.ipType || n.IP != w.ip || (n.Stake != nil) != w.stake {
			t.Errorf("node %d: got %+v, want %+v", i, n, w)
		}
	}
}

// A file is refused where encoding/json refuses it, nesting included, and
// also when it is not UTF-8 text, which Fiber cannot read; each with its
// reason.
func TestParseRefusals(t *testing.T) {
	nested := func(depth int) []byte { // depth containers in all
		return []byte(strings.Repeat("[", depth) + strings.Repeat("]", depth))
	}
	for _, depth := range []int{10000, 10001} {
		_, err := Parse(nested(depth), nil)
		valid := json.Valid(nested(depth))
		switch {
		case valid && (err == nil || !strings.Contains(err.Error(), "want an object")):
			t.Errorf("depth %d, valid JSON: got %v, want the first entry refused as no object", depth, err)
		case !valid && (err == nil || !strings.Contains(err.Error(), "not JSON")):
			t.Errorf("depth %d, not JSON to encoding/json: got %v", depth, err)
		}
	}
	for in, want := range map[string]string{
		"[{\"hotkey\": \"\xff\"}]": "not UTF-8 text",
		`{"a": 1} {}`:              "data after the JSON value",
		`{"a": `:                   "not JSON",
		`"nodes"`:                  "want a JSON object keyed by hotkey, or an array of nodes",
		``:                         "not JSON",
	} {
		if _, err := Parse([]byte(in), nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", in, err, want)
		}
	}
}
