package egress

import (
	"bytes"
	"strconv"

	"github.com/fibergate/fibergate/crypto/ss58"
)

// target is the miner a request names and the path it asks of it.
type target struct {
	pub  [32]byte
	uid  int    // -1 when named by hotkey
	path []byte // the miner-side path, raw, starting with "/"
}

// parseTarget reads the miner from a raw request path (/miner/<ss58>/...
// or /uid/<n>/...) or, when the path names none, from the X-Fibergate-Miner
// header value hdr (the path then goes to the miner as it is). It returns
// a detail for 400 bad_target when the miner is named badly, twice, or not
// at all.
func parseTarget(p, hdr []byte) (target, string) {
	t := target{uid: -1}
	var kind string
	var rest []byte
	switch {
	case bytes.HasPrefix(p, []byte("/miner/")):
		kind, rest = "miner", p[len("/miner/"):]
	case bytes.HasPrefix(p, []byte("/uid/")):
		kind, rest = "uid", p[len("/uid/"):]
	}
	if kind != "" {
		if len(hdr) > 0 {
			return t, "the miner is named twice: by the path and by X-Fibergate-Miner; name it once"
		}
		name := rest
		t.path = []byte("/")
		if i := bytes.IndexByte(rest, '/'); i >= 0 {
			name, t.path = rest[:i], rest[i:]
		}
		if kind == "uid" {
			uid, ok := parseUID(name)
			if !ok {
				return t, "/uid/<n>: want a uid from 0 to 65535"
			}
			t.uid = uid
			return t, ""
		}
		return t, t.setHotkey(name, "/miner/<ss58>")
	}
	if len(hdr) == 0 {
		return t, "name the miner: /miner/<ss58>/<path>, /uid/<n>/<path>, or the header X-Fibergate-Miner"
	}
	t.path = p
	if len(p) == 0 {
		t.path = []byte("/")
	}
	if uid, ok := parseUID(hdr); ok {
		t.uid = uid
		return t, ""
	}
	if isDecimal(string(hdr)) {
		return t, "X-Fibergate-Miner: want an SS58 address or a uid from 0 to 65535"
	}
	return t, t.setHotkey(hdr, "X-Fibergate-Miner")
}

// setHotkey decodes an SS58 address into t.
func (t *target) setHotkey(name []byte, where string) string {
	pub, _, err := ss58.DecodeBytes(name)
	if err != nil || pub == ([32]byte{}) {
		return where + ": not an SS58 address"
	}
	t.pub = pub
	return ""
}

// parseUID reads a uid: 1 to 5 decimal digits, at most 65535.
func parseUID(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 5 || !isDecimal(string(b)) {
		return 0, false
	}
	n, err := strconv.Atoi(string(b))
	if err != nil || n > 65535 {
		return 0, false
	}
	return n, true
}
