package validators

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"

	"github.com/fibergate/fibergate/crypto/ss58"
)

// maxNodesFile bounds what is read of a nodes file. A subnet's metagraph
// of a few thousand nodes is well under a megabyte.
const maxNodesFile = 64 << 20

// Node is one record of Fiber's nodes.json as fibergate reads it: the
// hotkey (checked), and the other fields as far as they are well-formed.
// The rest of the record (coldkey, incentive, trust, ...) is ignored.
type Node struct {
	// Hotkey is the SS58 address as the file spells it; PublicKey is it
	// decoded.
	Hotkey    string
	PublicKey [32]byte
	// Stake is the record's stake, nil when absent; StakeRaw is its JSON.
	Stake    *float64
	StakeRaw json.RawMessage
	// NodeID is the uid, -1 when absent or not a whole number.
	NodeID int
	// IP is the address as written: a dotted quad, IPv6 text, or the u128
	// in decimal (as Fiber 2.5 writes it), from a JSON string or number;
	// "" when absent or of another type.
	IP string
	// IPType is 4 or 6 (0 when absent), Port the port (0 when absent or
	// not a whole number).
	IPType int
	Port   int
}

// nodeEntry is a record as it is decoded; the other fields are ignored.
type nodeEntry struct {
	Hotkey *string          `json:"hotkey"`
	Stake  *json.RawMessage `json:"stake"`
	NodeID *json.RawMessage `json:"node_id"`
	IP     *json.RawMessage `json:"ip"`
	IPType *json.RawMessage `json:"ip_type"`
	Port   *json.RawMessage `json:"port"`
}

// ReadNodesFile reads the nodes file at path, refusing one larger than
// 64 MiB.
func ReadNodesFile(path string) ([]byte, error) { return readNodesFile(path) }

// readNodesFile reads the file at path, refusing one larger than
// maxNodesFile.
func readNodesFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxNodesFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxNodesFile {
		return nil, fmt.Errorf("larger than %d bytes", maxNodesFile)
	}
	return data, nil
}

// parseNodes parses a Fiber nodes.json into validators: every entry needs
// a stake (see ParseNodes).
func parseNodes(data []byte, source string) ([]Validator, error) {
	nodes, err := ParseNodes(data, func(n *Node) error {
		if n.StakeRaw == nil {
			return errors.New("no stake")
		}
		if n.Stake == nil {
			return fmt.Errorf("stake %s: want a number", n.StakeRaw)
		}
		return checkStake(*n.Stake)
	})
	if err != nil {
		return nil, err
	}
	out := make([]Validator, len(nodes))
	for i, n := range nodes {
		out[i] = Validator{Hotkey: n.Hotkey, PublicKey: n.PublicKey, Stake: *n.Stake, Source: source}
	}
	return out, nil
}

// ParseNodes parses a Fiber nodes.json: a JSON object keyed by SS58 hotkey
// whose values hold at least "hotkey", or a JSON array of such values.
// check, when not nil, is called on each entry once its hotkey checked
// out and may refuse it. Any bad entry refuses the whole file, naming the
// entry: a silently partial list would refuse validators (or lose miners)
// for no reason anyone could see. The fields other than the hotkey are
// read leniently (see Node).
func ParseNodes(data []byte, check func(*Node) error) ([]Node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	open, ok := tok.(json.Delim)
	if !ok || (open != '{' && open != '[') {
		return nil, errors.New("want a JSON object keyed by hotkey, or an array of nodes")
	}
	var out []Node
	seen := make(map[[32]byte]string)
	for i := 0; dec.More(); i++ {
		name := "entry [" + strconv.Itoa(i) + "]"
		var key string
		if open == '{' {
			t, err := dec.Token()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			key, _ = t.(string)
			name = "entry " + strconv.Quote(key)
		}
		var e nodeEntry
		raw := json.RawMessage(nil)
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := json.Unmarshal(raw, &e); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return nil, fmt.Errorf("%s: want an object with hotkey and stake", name)
		}
		n, err := entryNode(e, key, open == '{')
		if err == nil && check != nil {
			err = check(&n)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if prev, dup := seen[n.PublicKey]; dup {
			return nil, fmt.Errorf("%s: the same key as %s", name, prev)
		}
		seen[n.PublicKey] = name
		out = append(out, n)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return out, nil
}

// entryNode checks one entry's hotkey and reads its other fields. keyed
// says the entry sat under an object key, which must name the same public
// key as its hotkey field.
func entryNode(e nodeEntry, key string, keyed bool) (Node, error) {
	if e.Hotkey == nil {
		return Node{}, errors.New("no hotkey")
	}
	pub, _, err := ss58.Decode(*e.Hotkey)
	if err != nil {
		return Node{}, fmt.Errorf("hotkey %q: %w", *e.Hotkey, err)
	}
	if keyed {
		kpub, _, err := ss58.Decode(key)
		if err != nil {
			return Node{}, fmt.Errorf("key: %w", err)
		}
		if kpub != pub {
			return Node{}, fmt.Errorf("key and hotkey %q are different keys", *e.Hotkey)
		}
	}
	n := Node{Hotkey: *e.Hotkey, PublicKey: pub, NodeID: -1}
	if e.Stake != nil {
		n.StakeRaw = *e.Stake
		var stake float64
		if json.Unmarshal(*e.Stake, &stake) == nil {
			n.Stake = &stake
		}
	}
	if id, ok := wholeNumber(e.NodeID); ok {
		n.NodeID = id
	}
	if port, ok := wholeNumber(e.Port); ok {
		n.Port = port
	}
	if t, ok := wholeNumber(e.IPType); ok {
		n.IPType = t
	}
	if e.IP != nil {
		var s string
		var num json.Number
		if json.Unmarshal(*e.IP, &s) == nil {
			n.IP = s
		} else if json.Unmarshal(*e.IP, &num) == nil {
			n.IP = num.String()
		}
	}
	return n, nil
}

// wholeNumber reads a JSON integer that fits an int.
func wholeNumber(raw *json.RawMessage) (int, bool) {
	if raw == nil {
		return 0, false
	}
	var v int
	if json.Unmarshal(*raw, &v) != nil {
		return 0, false
	}
	return v, true
}

func checkStake(s float64) error {
	if math.IsNaN(s) || math.IsInf(s, 0) || s < 0 {
		return fmt.Errorf("stake %v: want a finite number, 0 or more", s)
	}
	return nil
}
