//go:build unix

package conformance_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
)

// streamCase is an answer relayed on the encrypted route /enc/*
// (response: encrypted): each complete line of the app's body becomes one
// Fernet token and "\n", an empty line a bare "\n".
type streamCase struct {
	name  string
	lines []string // the plaintext lines the validator must get; "" is a bare "\n"
	cut   string   // when the stream must arrive cut: the metric result that counts it
}

var streamCases = []streamCase{
	{name: "chunked", lines: []string{"chunk 1", "chunk 2", "chunk 3"}},
	{name: "close-delimited", lines: []string{"close 1", "close 2", "close 3"}},
	// The blank line that ends each server-sent event stays a blank line,
	// never a token of nothing, so an SSE reader on the validator's side
	// still sees the event boundaries.
	{name: "sse", lines: []string{"data: a", "", "data: b", ""}},
	// A stream the app cut off arrives cut off; its partial last line is
	// never sealed, so the validator cannot take it for a whole one.
	{name: "truncated", lines: []string{"line 1", "line 2"}, cut: "upstream_error"},
	// A line over limits.max_stream_line (1 MiB) is not held without
	// bound, nor sealed in pieces that would read as whole lines: the
	// stream ends there, cut.
	{name: "long-line", lines: []string{"first"}, cut: "line_too_long"},
}

// TestEncryptedStreams relays each streamed answer encrypted, line by
// line, and checks the tokens the validator gets.
func TestEncryptedStreams(t *testing.T) {
	eachApp(t, fgOptions{}, func(t *testing.T, e *env) {
		t.Run("json-length", func(t *testing.T) {
			defer e.checkAlive(t)
			x := roundTrip(t, e.fg.addr, e.encRequest(t, "POST", "/enc/json-length", []byte(`{}`)), "POST")
			plain := wantSealed(t, e, x)
			if want := `{"case": "json-length", "ok": true}`; !jsonEqual(plain, []byte(want)) {
				t.Errorf("decrypted body %q, want %s", plain, want)
			}
			wantHeader(t, x, "Content-Type", "application/octet-stream")
		})
		// An answer without a body has nothing to seal: no token, and no
		// Content-Type for a body that is not there.
		t.Run("no-content", func(t *testing.T) {
			defer e.checkAlive(t)
			x := roundTrip(t, e.fg.addr, e.encRequest(t, "POST", "/enc/no-content", []byte(`{}`)), "POST")
			wantStatus(t, x, 204)
			wantBody(t, x, "")
			wantHeader(t, x, "X-Case", "no-content")
			wantNoHeader(t, x, "Content-Type")
			wantNoHeader(t, x, "Content-Length")
		})
		for _, c := range streamCases {
			t.Run(c.name, func(t *testing.T) {
				e.skipUnsupported(t, c.name)
				defer e.checkAlive(t)
				var before float64
				if c.cut != "" {
					before = e.fg.metric(t, streamsMetric(c.cut))
				}
				x := roundTrip(t, e.fg.addr, e.encRequest(t, "POST", "/enc/"+c.name, []byte(`{}`)), "POST")
				wantStatus(t, x, 200)
				wantHeader(t, x, "X-Fiber-Encrypted", "fernet")
				if got := streamLines(t, e, x.body); !slices.Equal(got, c.lines) {
					t.Errorf("the validator got lines %q, want %q", got, c.lines)
				}
				if c.cut == "" {
					if x.err != nil {
						t.Errorf("want a cleanly ended stream: %s", x.describe())
					}
					return
				}
				wantCut(t, x, "")
				waitMetricAbove(t, e.fg, streamsMetric(c.cut), before)
			})
		}
	})
}

// streamLines decrypts an encrypted stream's lines; a bare line is "".
// The body must end at a line's end: a token cut in two would be a
// line the validator cannot read.
func streamLines(t *testing.T, e *env, body []byte) []string {
	t.Helper()
	if len(body) == 0 {
		return nil
	}
	if !bytes.HasSuffix(body, []byte("\n")) {
		t.Errorf("the stream stops inside a line: %q", tailBytes(body))
	}
	var out []string
	for _, l := range bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n")) {
		if len(l) == 0 {
			out = append(out, "")
			continue
		}
		key, _ := e.cl.Key()
		plain, _, err := key.Decrypt(nil, l)
		if err != nil {
			t.Errorf("line %q is not a token under the key: %v", tailBytes(l), err)
			out = append(out, "<not a token>")
			continue
		}
		if len(plain) == 0 {
			t.Errorf("a token of an empty line: empty lines must be a bare \\n")
		}
		out = append(out, string(plain))
	}
	return out
}

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(a, b []byte) bool {
	var va, vb any
	return json.Unmarshal(a, &va) == nil && json.Unmarshal(b, &vb) == nil && reflect.DeepEqual(va, vb)
}

func tailBytes(b []byte) []byte {
	if len(b) > 120 {
		return append([]byte("..."), b[len(b)-120:]...)
	}
	return b
}
