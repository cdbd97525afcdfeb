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
	"strings"

	"github.com/fibergate/fibergate/crypto/ss58"
)

// maxNodesFile bounds what is read of a nodes file. A subnet's metagraph
// of a few thousand nodes is well under a megabyte.
const maxNodesFile = 64 << 20

// maxNodes bounds the entries of a nodes file: a subnet has at most a few
// thousand uids (256 on finney today). The bound keeps what the list takes
// in memory (about 300 bytes an entry) near the file's own size.
const maxNodes = 1 << 16

// nodeEntry is the part of a Fiber node record fibergate uses; the other
// fields (node_id, ip, port, netuid, ...) are ignored.
// Each field is the raw JSON value, a slice of the file's bytes: nil when
// the field is absent or null.
type nodeEntry struct {
	Hotkey []byte
	Stake  []byte
	// Read for the chain cache's check only.
	NetUID     []byte
	AlphaStake []byte
}

// parseEntry reads the fields of one node record from raw, a JSON value
// that json.Valid accepted, without copying; false when it is not an
// object. Field names match exactly, as Fiber's Python reads them; of a
// field given twice the last counts, as in Python.
func parseEntry(raw []byte) (nodeEntry, bool) {
	var e nodeEntry
	if len(raw) == 0 || raw[0] != '{' {
		return e, false
	}
	w := jsonWalk{b: raw, i: 1}
	for {
		w.space()
		if raw[w.i] == '}' {
			return e, true
		}
		ks, ke := w.value()
		w.space()
		w.i++ // ':'
		w.space()
		vs, ve := w.value()
		v := raw[vs:ve]
		if string(v) == "null" {
			v = nil
		}
		k := raw[ks+1 : ke-1] // the key's text, unless it has escapes
		if bytes.IndexByte(k, '\\') >= 0 {
			k = []byte(jsonString(raw[ks:ke]))
		}
		switch string(k) { // compared without a copy
		case "hotkey":
			e.Hotkey = v
		case "stake":
			e.Stake = v
		case "netuid":
			e.NetUID = v
		case "alpha_stake":
			e.AlphaStake = v
		}
		w.space()
		if raw[w.i] == ',' {
			w.i++
		}
	}
}

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

// readNodesFile reads the file at path, refusing one larger than
// maxNodesFile. The buffer is sized from the file's size, so reading takes
// the file's size in memory, not the doublings of a growing buffer.
func readNodesFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := int64(512)
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		if fi.Size() > maxNodesFile {
			return nil, fmt.Errorf("larger than %d bytes", maxNodesFile)
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
		if len(data) > maxNodesFile {
			return nil, fmt.Errorf("larger than %d bytes", maxNodesFile)
		}
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// parseNodes parses a Fiber nodes.json: a JSON object keyed by SS58 hotkey
// whose values hold at least "hotkey" and "stake", or a JSON array of such
// values. Any bad entry refuses the whole file, naming the entry: a silently
// partial list would refuse validators for no reason anyone could see.
// check, when not nil, is also asked about every entry.
//
// It works on data in place: the JSON is validated first, then walked
// without copying, each entry decoded straight from its bytes (fields it
// does not use are skipped, however large), so a file of the largest size
// allowed costs its own size plus the validators it lists.
func parseNodes(data []byte, source string, check ...func(nodeEntry) error) ([]Validator, error) {
	if !json.Valid(data) {
		err := json.Unmarshal(data, new(struct{}))
		var se *json.SyntaxError
		if errors.As(err, &se) && strings.Contains(se.Error(), "after top-level value") {
			return nil, errors.New("data after the JSON value")
		}
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	w := jsonWalk{b: data}
	w.space()
	open := data[w.i]
	if open != '{' && open != '[' {
		return nil, errors.New("want a JSON object keyed by hotkey, or an array of nodes")
	}
	count := w.count()
	if count > maxNodes {
		return nil, fmt.Errorf("%d entries, more than the %d a subnet can have", count, maxNodes)
	}
	out := make([]Validator, 0, count)
	seen := make(map[[32]byte]int, count)
	name := func(i int, key string) string {
		if open == '{' {
			return "entry " + strconv.Quote(key)
		}
		return "entry [" + strconv.Itoa(i) + "]"
	}
	w.i++ // past the opening bracket
	for i := 0; ; i++ {
		w.space()
		if data[w.i] == '}' || data[w.i] == ']' {
			break
		}
		var key string
		if open == '{' {
			ks, ke := w.value()
			key = jsonString(data[ks:ke])
			w.space()
			w.i++ // ':'
			w.space()
		}
		vs, ve := w.value()
		e, ok := parseEntry(data[vs:ve])
		if !ok {
			return nil, fmt.Errorf("%s: want an object with hotkey and stake", name(i, key))
		}
		v, err := entryValidator(e, key, open == '{', source)
		for _, c := range check {
			if err == nil {
				err = c(e)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name(i, key), err)
		}
		if j, dup := seen[v.PublicKey]; dup {
			return nil, fmt.Errorf("%s: the same key as %s", name(i, key), name(j, out[j].Hotkey))
		}
		seen[v.PublicKey] = i
		out = append(out, v)
		w.space()
		if data[w.i] == ',' {
			w.i++
		}
	}
	return out, nil
}

// jsonWalk walks JSON that json.Valid accepted, finding where values begin
// and end without copying or decoding them.
type jsonWalk struct {
	b []byte
	i int
}

func (w *jsonWalk) space() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\r', '\n':
			w.i++
		default:
			return
		}
	}
}

// value skips the value at w.i and returns where it began and ended.
func (w *jsonWalk) value() (start, end int) {
	start = w.i
	switch w.b[w.i] {
	case '"':
		w.str()
	case '{', '[':
		depth := 0
		for {
			switch w.b[w.i] {
			case '"':
				w.str()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			w.i++
			if depth == 0 {
				break
			}
		}
	default: // a number, true, false or null
		for w.i < len(w.b) && !strings.ContainsRune(",}] \t\r\n", rune(w.b[w.i])) {
			w.i++
		}
	}
	return start, w.i
}

// str skips the string at w.i.
func (w *jsonWalk) str() {
	w.i++
	for w.b[w.i] != '"' {
		if w.b[w.i] == '\\' {
			w.i++
		}
		w.i++
	}
	w.i++
}

// count returns the number of members of the object or array at w.i,
// leaving w where it was.
func (w *jsonWalk) count() int {
	c := jsonWalk{b: w.b, i: w.i + 1}
	n := 0
	for {
		c.space()
		if c.b[c.i] == '}' || c.b[c.i] == ']' {
			return n
		}
		c.value()
		c.space()
		if c.b[c.i] == ':' {
			c.i++
			c.space()
			c.value()
			c.space()
		}
		n++
		if c.b[c.i] == ',' {
			c.i++
		}
	}
}

// entryValidator checks one entry. keyed says the entry sat under an
// object key, which must name the same public key as its hotkey field.
func entryValidator(e nodeEntry, key string, keyed bool, source string) (Validator, error) {
	if e.Hotkey == nil {
		return Validator{}, errors.New("no hotkey")
	}
	if e.Hotkey[0] != '"' {
		return Validator{}, fmt.Errorf("hotkey %s: want a string", clip(e.Hotkey))
	}
	hotkey := jsonString(e.Hotkey)
	pub, _, err := ss58.Decode(hotkey)
	if err != nil {
		return Validator{}, fmt.Errorf("hotkey %q: %w", hotkey, err)
	}
	if keyed {
		kpub, _, err := ss58.Decode(key)
		if err != nil {
			return Validator{}, fmt.Errorf("key: %w", err)
		}
		if kpub != pub {
			return Validator{}, fmt.Errorf("key and hotkey %q are different keys", hotkey)
		}
	}
	if e.Stake == nil {
		return Validator{}, errors.New("no stake")
	}
	stake, err := jsonNumber(e.Stake)
	if err != nil {
		return Validator{}, fmt.Errorf("stake %s: want a number", clip(e.Stake))
	}
	if err := checkStake(stake); err != nil {
		return Validator{}, err
	}
	return Validator{Hotkey: hotkey, PublicKey: pub, Stake: stake, Source: source}, nil
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

func checkStake(s float64) error {
	if math.IsNaN(s) || math.IsInf(s, 0) || s < 0 {
		return fmt.Errorf("stake %v: want a finite number, 0 or more", s)
	}
	return nil
}
