// Package nodes reads Fiber's nodes.json, the list of a subnet's nodes
// (validators and miners) with their hotkeys, stakes, uids and axon
// addresses, as both halves of fibergate need it: serve for the
// validators allowed to talk to the miner, egress for the miners'
// addresses. It reads a file of the largest size allowed in place, and
// tells when a file changed by more than its size and modification time.
package nodes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/internal/jsontext"
)

// MaxFileSize bounds what is read of a nodes file. A subnet's metagraph
// of a few thousand nodes is well under a megabyte.
const MaxFileSize = 64 << 20

// MaxEntries bounds the entries of a nodes file: a subnet has at most a few
// thousand uids (256 on finney today). The bound keeps what the list takes
// in memory (about 300 bytes an entry) near the file's own size.
const MaxEntries = 1 << 16

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
	// NetUID is the subnet, -1 when absent or not a whole number;
	// AlphaStake says the record has an alpha_stake (Fiber 2.5 writes
	// one). fibergate's chain cache is checked against both.
	NetUID     int
	AlphaStake bool
}

// nodeEntry is a record's fields as found: each the raw JSON value, a
// slice of the file's bytes, nil when the field is absent or null. The
// other fields are ignored.
type nodeEntry struct {
	Hotkey, Stake, NodeID, IP, IPType, Port, NetUID, AlphaStake []byte
}

// parseEntry reads the fields of one node record from raw, a JSON value
// the file's check accepted, without copying; false when it is not an
// object. Field names match exactly, as Fiber's Python reads them; of a
// field given twice the last counts, as in Python.
func parseEntry(raw []byte) (nodeEntry, bool) {
	var e nodeEntry
	_, _, ok := jsontext.Object(raw, maxNest, func(m jsontext.Member) {
		v := raw[m.ValueStart:m.ValueEnd]
		if string(v) == "null" {
			v = nil
		}
		k := m.Key[1 : len(m.Key)-1] // the key's text, unless it has escapes
		if m.Escaped {
			k = []byte(jsonString(m.Key))
		}
		switch string(k) { // compared without a copy
		case "hotkey":
			e.Hotkey = v
		case "stake":
			e.Stake = v
		case "node_id":
			e.NodeID = v
		case "ip":
			e.IP = v
		case "ip_type":
			e.IPType = v
		case "port":
			e.Port = v
		case "netuid":
			e.NetUID = v
		case "alpha_stake":
			e.AlphaStake = v
		}
	})
	return e, ok
}

// maxNest bounds nesting below the file's top level, as json.Valid bounds
// it (10,000 levels in all).
const maxNest = 9999

// jsonString returns the text of the JSON string raw (valid JSON), or ""
// for any other value.
func jsonString(raw []byte) string {
	if len(raw) < 2 || raw[0] != '"' {
		return ""
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	json.Unmarshal(raw, &s) // valid JSON: cannot fail
	return s
}

// ReadFile reads the nodes file at path, refusing one larger than
// MaxFileSize (64 MiB). The buffer is sized from the file's size, so reading takes
// the file's size in memory, not the doublings of a growing buffer.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := int64(512)
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		if fi.Size() > MaxFileSize {
			return nil, fmt.Errorf("larger than %d bytes", MaxFileSize)
		}
		size = fi.Size() + 1 // the extra byte sees the end (or a file that grew)
	}
	data := make([]byte, 0, size)
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)] // grows only if the file grew
		}
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if len(data) > MaxFileSize {
			return nil, fmt.Errorf("larger than %d bytes", MaxFileSize)
		}
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// To is where Walk puts the nodes it accepts: Start is told how many
// entries there are, Each is given every accepted node (which it must
// copy), and Hotkey returns the hotkey of the j-th accepted one.
type To struct {
	Start  func(n int)
	Each   func(n *Node)
	Hotkey func(j int) string
}

// Parse parses a Fiber nodes.json: a JSON object keyed by SS58 hotkey
// whose values hold at least "hotkey", or a JSON array of such values.
// check, when not nil, is called on each entry once its hotkey checked
// out and may refuse it. Any bad entry refuses the whole file, naming the
// entry: a silently partial list would refuse validators (or lose miners)
// for no reason anyone could see. The fields other than the hotkey are
// read leniently (see Node). At most 65,536 entries.
//
// It works on data in place: the JSON is checked first, then walked
// without copying, each entry read straight from its bytes (fields it does
// not use are skipped, however large), so a file of the largest size
// allowed costs its own size plus the nodes it lists. The Nodes hold no
// reference to data.
func Parse(data []byte, check func(*Node) error) ([]Node, error) {
	var out []Node
	err := Walk(data, check, To{
		Start:  func(n int) { out = make([]Node, 0, n) },
		Each:   func(n *Node) { out = append(out, *n) },
		Hotkey: func(j int) string { return out[j].Hotkey },
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Walk is Parse, handing each accepted node to to.
func Walk(data []byte, check func(*Node) error, to To) error {
	// One pass checks the JSON and counts the entries, a second reads them.
	count := 0
	open, ok := members(data, func(jsontext.Member) { count++ })
	if !ok {
		return notNodes(data)
	}
	if count > MaxEntries {
		return fmt.Errorf("%d entries, more than the %d a subnet can have", count, MaxEntries)
	}
	to.Start(count)
	seen := make(map[[32]byte]int, count)
	name := func(i int, key string) string {
		if open == '{' {
			return "entry " + strconv.Quote(key)
		}
		return "entry [" + strconv.Itoa(i) + "]"
	}
	var err error
	i := 0
	members(data, func(m jsontext.Member) {
		defer func() { i++ }()
		if err != nil {
			return
		}
		var key string
		if open == '{' {
			key = jsonString(m.Key)
		}
		e, ok := parseEntry(data[m.ValueStart:m.ValueEnd])
		if !ok {
			err = fmt.Errorf("%s: want an object with hotkey and stake", name(i, key))
			return
		}
		n, nerr := entryNode(e, key, open == '{')
		if nerr == nil && check != nil {
			nerr = check(&n)
		}
		if nerr != nil {
			err = fmt.Errorf("%s: %w", name(i, key), nerr)
			return
		}
		if j, dup := seen[n.PublicKey]; dup {
			err = fmt.Errorf("%s: the same key as %s", name(i, key), name(j, to.Hotkey(j)))
			return
		}
		seen[n.PublicKey] = len(seen)
		to.Each(&n)
	})
	return err
}

// members hands each member of data's top-level object, or each element
// of its top-level array (with no key), to each, and says which it was:
// '{' or '['. ok is false unless data is one valid object or array.
func members(data []byte, each func(jsontext.Member)) (open byte, ok bool) {
	i := 0
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
		i++
	}
	if i == len(data) {
		return 0, false
	}
	switch data[i] {
	case '{':
		_, _, ok = jsontext.Object(data, maxNest, each)
	case '[':
		ok = jsontext.Array(data, maxNest, func(start, end int) {
			each(jsontext.Member{ValueStart: start, ValueEnd: end})
		})
	}
	return data[i], ok
}

// notNodes says why data, which members refused, is no nodes file.
func notNodes(data []byte) error {
	if !json.Valid(data) {
		err := json.Unmarshal(data, new(struct{}))
		var se *json.SyntaxError
		if errors.As(err, &se) && strings.Contains(se.Error(), "after top-level value") {
			return errors.New("data after the JSON value")
		}
		return fmt.Errorf("not JSON: %w", err)
	}
	if !utf8.Valid(data) {
		// encoding/json lets such bytes pass; Fiber, reading the file as
		// UTF-8 text, cannot.
		return errors.New("not UTF-8 text")
	}
	return errors.New("want a JSON object keyed by hotkey, or an array of nodes")
}

// entryNode checks one entry's hotkey and reads its other fields. keyed
// says the entry sat under an object key, which must name the same public
// key as its hotkey field.
func entryNode(e nodeEntry, key string, keyed bool) (Node, error) {
	if e.Hotkey == nil {
		return Node{}, errors.New("no hotkey")
	}
	if e.Hotkey[0] != '"' {
		return Node{}, fmt.Errorf("hotkey %s: want a string", clip(e.Hotkey))
	}
	hotkey := jsonString(e.Hotkey)
	pub, _, err := ss58.Decode(hotkey)
	if err != nil {
		return Node{}, fmt.Errorf("hotkey %q: %w", hotkey, err)
	}
	if keyed {
		kpub, _, err := ss58.Decode(key)
		if err != nil {
			return Node{}, fmt.Errorf("key: %w", err)
		}
		if kpub != pub {
			return Node{}, fmt.Errorf("key and hotkey %q are different keys", hotkey)
		}
	}
	n := Node{Hotkey: hotkey, PublicKey: pub, NodeID: -1, NetUID: -1, AlphaStake: e.AlphaStake != nil}
	if e.Stake != nil {
		n.StakeRaw = bytes.Clone(e.Stake) // not a slice of the file, which it would keep alive
		if stake, err := jsonNumber(e.Stake); err == nil {
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
	if netuid, ok := wholeNumber(e.NetUID); ok {
		n.NetUID = netuid
	}
	switch {
	case e.IP == nil:
	case len(e.IP) > maxIPText:
		// No address is that long: not read (nor copied).
	case e.IP[0] == '"':
		n.IP = jsonString(e.IP)
	case e.IP[0] == '-' || (e.IP[0] >= '0' && e.IP[0] <= '9'):
		n.IP = string(e.IP)
	}
	return n, nil
}

// maxIPText bounds the ip field fibergate reads: IPv6 text is at most 45
// characters, a u128 in decimal 39 digits.
const maxIPText = 64

// wholeNumber reads raw, a valid JSON value, as encoding/json reads an
// int: a JSON integer that fits; nil or anything else is not.
func wholeNumber(raw []byte) (int, bool) {
	if raw == nil || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false
	}
	v, err := strconv.ParseInt(string(raw), 10, 0)
	if err != nil {
		return 0, false
	}
	return int(v), true
}

// jsonNumber reads raw, a valid JSON value, as encoding/json reads a
// number into a float64: any other value, or one beyond float64, is an
// error.
func jsonNumber(raw []byte) (float64, error) {
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return 0, errors.New("not a number")
	}
	return strconv.ParseFloat(string(raw), 64)
}

// clip shortens a value quoted in an error.
func clip(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}
