package loadgen

import (
	"bytes"
	"errors"
)

// padPayload returns the JSON object p with a "pad" string field of 'x'
// characters added so that the result is at least size bytes; p itself
// when it is already that long. p must be a JSON object.
func padPayload(p []byte, size int) ([]byte, error) {
	p = bytes.TrimSpace(p)
	if len(p) < 2 || p[0] != '{' || p[len(p)-1] != '}' {
		return nil, errors.New("loadgen: payload must be a JSON object")
	}
	if len(p) >= size {
		return p, nil
	}
	inner := bytes.TrimSpace(p[1 : len(p)-1])
	out := make([]byte, 0, size+16)
	out = append(out, '{')
	out = append(out, inner...)
	if len(inner) > 0 {
		out = append(out, ", "...)
	}
	out = append(out, `"pad": "`...)
	// What is still to come is the pad itself, the closing quote and brace.
	for n := size - len(out) - 2; n > 0; n-- {
		out = append(out, 'x')
	}
	return append(out, '"', '}'), nil
}
