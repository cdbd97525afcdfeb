package loadgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/valyala/fasthttp"

	"github.com/fibergate/fibergate/internal/e2etest"
)

func TestPadPayload(t *testing.T) {
	tests := []struct {
		name, in string
		size     int
		want     string // "" for an error
	}{
		{"long enough", `{"a": 1}`, 4, `{"a": 1}`},
		{"trimmed", "  {\"a\": 1}\n", 0, `{"a": 1}`},
		{"padded", `{"a": 1}`, 30, `{"a": 1, "pad": "xxxxxxxxxxx"}`},
		{"empty object", `{}`, 16, `{"pad": "xxxxx"}`},
		{"smaller than the pad field", `{"a":1}`, 9, `{"a":1, "pad": ""}`},
		{"not an object", `[1, 2]`, 10, ""},
		{"empty", ``, 10, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := padPayload([]byte(tc.in), tc.size)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("got %q, want an error", got)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
			if len(got) < tc.size {
				t.Errorf("got %d bytes, want at least %d", len(got), tc.size)
			}
			if !json.Valid(got) {
				t.Errorf("got %q, not JSON", got)
			}
		})
	}
}

func TestErrorCode(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"fibergate", `{"detail":"Nonce already used","error":"nonce_replayed"}`, "nonce_replayed"},
		{"with spaces and more fields", `{"detail": "x", "error": "unknown_key", "requires_handshake": true}`, "unknown_key"},
		{"FastAPI, no code", `{"detail":"Not Found"}`, ""},
		{"not JSON", `Internal Server Error`, ""},
		{"empty", ``, ""},
		{"an array", `[{"error":"x"}]`, ""},
		{"code not a string", `{"error": 42}`, "malformed_code"},
		{"code with capitals", `{"error": "Bad"}`, "malformed_code"},
		{"code with an escape", `{"error": "\u001b[31mred"}`, "malformed_code"},
		{"code too long", `{"error": "` + strings.Repeat("a", maxCodeLen+1) + `"}`, "malformed_code"},
		{"longest code", `{"error": "` + strings.Repeat("a", maxCodeLen) + `"}`, strings.Repeat("a", maxCodeLen)},
		{"truncated", `{"error": "nonce_re`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := errorCode([]byte(tc.body)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzErrorCode checks that no answer body panics and that what comes back
// is always fit for the report.
func FuzzErrorCode(f *testing.F) {
	for _, s := range []string{`{"error":"nonce_replayed"}`, `{"error":1}`, `{`, `{"error":"a\u0000"}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got := errorCode(body)
		if got != "" && got != "malformed_code" && !isCode(got) {
			t.Fatalf("errorCode(%q) = %q: not a code", body, got)
		}
	})
}

func TestTransportClass(t *testing.T) {
	addr := e2etest.FreeAddr(t) // nothing listens there
	hc := &fasthttp.HostClient{Addr: addr}
	req, resp := new(fasthttp.Request), new(fasthttp.Response)
	req.SetRequestURI("http://" + addr + "/")
	refused := hc.DoTimeout(req, resp, 5*time.Second)

	tests := []struct {
		name string
		err  error
		want string
	}{
		{"refused", refused, "connection_refused"},
		{"fasthttp timeout", fasthttp.ErrTimeout, "timeout"},
		{"wrapped timeout", fmt.Errorf("sending: %w", fasthttp.ErrTimeout), "timeout"},
		{"closed", fasthttp.ErrConnectionClosed, "connection_closed"},
		{"eof", io.ErrUnexpectedEOF, "connection_closed"},
		{"no free connections", fasthttp.ErrNoFreeConns, "no_free_connections"},
		{"other", errors.New("something else"), "transport_error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := transportClass(tc.err); got != tc.want {
				t.Errorf("transportClass(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

func TestTallyBoundsDistinctKeys(t *testing.T) {
	tl := newTally()
	for i := range maxDistinct + 50 {
		tl.code(fmt.Sprintf("code_%d", i))
	}
	if len(tl.codes) != maxDistinct+1 || tl.codes["other"] != 50 {
		t.Errorf("got %d distinct codes, %d other; want %d and 50", len(tl.codes), tl.codes["other"], maxDistinct+1)
	}
}

// sampleResult is a flood result with every part filled in.
func sampleResult() *Result {
	return &Result{
		Target: "http://127.0.0.1:8080", Mode: ModeFlood, Loop: LoopFixedRate,
		Validators: 2, Concurrency: 8, Rate: 200, ElapsedSeconds: 10.004,
		Ops: 2000, OK: 1997, Errors: 3, Dropped: 1, OpsPerSec: 199.9, RequestsPerSec: 199.9,
		Latency:   Latency{Min: 120 * time.Microsecond, Mean: 1100 * time.Microsecond, P50: time.Millisecond, P90: 1500 * time.Microsecond, P99: 4 * time.Millisecond, P999: 9 * time.Millisecond, Max: 1200 * time.Millisecond},
		Statuses:  map[int]int64{401: 1500, 400: 497, 500: 2},
		Codes:     map[string]int64{"nonce_replayed": 1200, "token_invalid": 497},
		Transport: map[string]int64{"timeout": 1},
		Setup:     Setup{Handshakes: 2, HandshakesPerSec: 400, Seconds: 0.2},
		Signing:   Signing{Ahead: 2001, AheadSeconds: 0.05},
		Flood: &FloodResult{
			Kinds: map[string]map[string]int64{
				"garbage_body":      {"400 token_invalid": 497, "500": 2},
				"replayed_exchange": {"401 nonce_replayed": 1200},
				"random_bytes":      {"timeout": 1},
			},
			Failures:       3,
			FailureAnswers: map[string]int64{"garbage_body 500": 2, "random_bytes timeout": 1},
			Exchanges:      1,
		},
	}
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	if err := sampleResult().WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"fibergate bench: flood, fixed rate 200/s, 2 validators, 8 workers, 10.00s against http://127.0.0.1:8080\n",
		"  sent        2,000 in 10.00s = 200/s   ok 1,997   errors 3   dropped 1\n",
		"  latency     p50 1.00ms   p90 1.50ms   p99 4.00ms   p99.9 9.00ms   (min 120µs, mean 1.10ms, max 1.20s)\n",
		"  statuses    401: 1,500, 400: 497, 500: 2\n",
		"  codes       nonce_replayed: 1,200, token_invalid: 497\n",
		"  no answer   timeout: 1\n",
		"  garbage_body             400 token_invalid: 497, 500: 2\n",
		"  failures    3 (5xx, no answer, or a bad request accepted)",
		"garbage_body 500: 2, random_bytes timeout: 1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Kinds are listed in FloodKinds order.
	if strings.Index(out, "garbage_body ") > strings.Index(out, "replayed_exchange ") {
		t.Errorf("kinds out of order:\n%s", out)
	}

	// A closed loop of requests says how the handshakes went, and lists no
	// flood kinds.
	r := sampleResult()
	r.Mode, r.Loop, r.Flood, r.Rate, r.Transport = ModeRequests, LoopClosed, nil, 0, nil
	r.NotOK = map[string]int64{"401 nonce_replayed": 1, "500": 2}
	r.Setup.Handshakes, r.Setup.HandshakesPerSec = 16, 468.2
	b.Reset()
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out = b.String()
	for _, want := range []string{
		"fibergate bench: requests, closed loop, 2 validators",
		"  requests    2,000 in 10.00s = 200/s   ok 1,997   errors 3\n",
		"  handshakes  16 at setup = 468/s (one per validator)\n",
		"  not 200     500: 2, 401 nonce_replayed: 1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"dropped", "kind ", "failures", "no answer"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("output has %q:\n%s", unwanted, out)
		}
	}
}

func TestResultJSONRoundTrip(t *testing.T) {
	in := sampleResult()
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"p99_9_ms":9`, `"p50_ms":1`, `"requests_per_s":199.9`, `"statuses":{"400":497,"401":1500,"500":2}`} {
		if !bytes.Contains(data, []byte(key)) {
			t.Errorf("JSON lacks %s: %s", key, data)
		}
	}
	var out Result
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, &out); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestNumberFormats(t *testing.T) {
	tests := []struct{ got, want string }{
		{count64(0), "0"},
		{count64(999), "999"},
		{count64(1000), "1,000"},
		{count64(1234567), "1,234,567"},
		{count64(-1234), "-1,234"},
		{num(12.34), "12.3"},
		{num(12345.6), "12,346"},
		{dur(900 * time.Microsecond), "900µs"},
		{dur(2500 * time.Microsecond), "2.50ms"},
		{dur(1500 * time.Millisecond), "1.50s"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
