package validators

import (
	"strings"
	"testing"
)

// serve's reading of a nodes file needs a stake in every entry, which
// nodes.Parse does not.
func TestParseNodesNeedsStake(t *testing.T) {
	data := `{"5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty": {"hotkey": "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty", "node_id": 4, "ip": "3235789677", "ip_type": 4, "port": 8091}}`
	// serve's reading still needs a stake.
	if _, err := parseNodes([]byte(data), SourceNodesFile); err == nil || !strings.Contains(err.Error(), "no stake") {
		t.Errorf("parseNodes: got %v, want a missing stake", err)
	}
}
