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

// nodeEntry is the part of a Fiber node record fibergate uses; the other
// fields (node_id, ip, port, netuid, ...) are ignored.
type nodeEntry struct {
	Hotkey *string          `json:"hotkey"`
	Stake  *json.RawMessage `json:"stake"`
}

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

// parseNodes parses a Fiber nodes.json: a JSON object keyed by SS58 hotkey
// whose values hold at least "hotkey" and "stake", or a JSON array of such
// values. Any bad entry refuses the whole file, naming the entry: a silently
// partial list would refuse validators for no reason anyone could see.
func parseNodes(data []byte, source string) ([]Validator, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	open, ok := tok.(json.Delim)
	if !ok || (open != '{' && open != '[') {
		return nil, errors.New("want a JSON object keyed by hotkey, or an array of nodes")
	}
	var out []Validator
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
		v, err := entryValidator(e, key, open == '{', source)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if prev, dup := seen[v.PublicKey]; dup {
			return nil, fmt.Errorf("%s: the same key as %s", name, prev)
		}
		seen[v.PublicKey] = name
		out = append(out, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return out, nil
}

// entryValidator checks one entry. keyed says the entry sat under an
// object key, which must name the same public key as its hotkey field.
func entryValidator(e nodeEntry, key string, keyed bool, source string) (Validator, error) {
	if e.Hotkey == nil {
		return Validator{}, errors.New("no hotkey")
	}
	pub, _, err := ss58.Decode(*e.Hotkey)
	if err != nil {
		return Validator{}, fmt.Errorf("hotkey %q: %w", *e.Hotkey, err)
	}
	if keyed {
		kpub, _, err := ss58.Decode(key)
		if err != nil {
			return Validator{}, fmt.Errorf("key: %w", err)
		}
		if kpub != pub {
			return Validator{}, fmt.Errorf("key and hotkey %q are different keys", *e.Hotkey)
		}
	}
	if e.Stake == nil {
		return Validator{}, errors.New("no stake")
	}
	var stake float64
	if err := json.Unmarshal(*e.Stake, &stake); err != nil {
		return Validator{}, fmt.Errorf("stake %s: want a number", *e.Stake)
	}
	if err := checkStake(stake); err != nil {
		return Validator{}, err
	}
	return Validator{Hotkey: *e.Hotkey, PublicKey: pub, Stake: stake, Source: source}, nil
}

func checkStake(s float64) error {
	if math.IsNaN(s) || math.IsInf(s, 0) || s < 0 {
		return fmt.Errorf("stake %v: want a finite number, 0 or more", s)
	}
	return nil
}
