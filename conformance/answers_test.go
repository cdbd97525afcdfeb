//go:build unix

package conformance_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/internal/e2etest"
)

// answerCase is one odd answer an app can give. direct checks that the
// app, asked directly, really gives it (so a failure through fibergate is
// fibergate's); proxied checks what the validator gets through fibergate
// on the public route /v1/<name>.
type answerCase struct {
	name    string
	method  string // GET when empty
	direct  func(t *testing.T, x *exchange)
	proxied func(t *testing.T, e *env, x *exchange)
}

// Bodies the apps send.
const (
	chunkedBody = "chunk 1\nchunk 2\nchunk 3\n"
	closeBody   = "close 1\nclose 2\nclose 3\n"
	sseBody     = "data: a\n\ndata: b\n\n"
	noTypeBody  = "no type here"
)

var longLineBody = "first\n" + strings.Repeat("a", longLine) + "\n"

var answerCases = []answerCase{
	{
		name: "json-length",
		direct: func(t *testing.T, x *exchange) {
			wantStatus(t, x, 200)
			wantJSONCase(t, x, "json-length")
			if x.resp.ContentLength < 0 {
				t.Errorf("app sent no Content-Length")
			}
		},
		proxied: func(t *testing.T, e *env, x *exchange) {
			wantStatus(t, x, 200)
			wantJSONCase(t, x, "json-length")
			wantHeader(t, x, "X-Case", "json-length")
			if ct := x.resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want the app's application/json", ct)
			}
		},
	},
	{
		name: "chunked",
		direct: func(t *testing.T, x *exchange) {
			wantStatus(t, x, 200)
			wantBody(t, x, chunkedBody)
			if !slices.Contains(x.resp.TransferEncoding, "chunked") {
				t.Errorf("app's answer not chunked: %s", x.describe())
			}
		},
		proxied: func(t *testing.T, e *env, x *exchange) {
			wantStatus(t, x, 200)
			wantBody(t, x, chunkedBody)
			wantHeader(t, x, "X-Case", "chunked")
		},
	},
	{
		name: "close-delimited",
		direct: func(t *testing.T, x *exchange) {
			wantStatus(t, x, 200)
			wantBody(t, x, closeBody)
			if x.resp.ContentLength != -1 || len(x.resp.TransferEncoding) > 0 {
				t.Errorf("app's answer has a length or chunks: %s", x.describe())
			}
		},
		proxied: func(t *testing.T, e *env, x *exchange) {
			wantStatus(t, x, 200)
			wantBody(t, x, closeBody)
			wantHeader(t, x, "X-Case", "close-delimited")
		},
	},
	{
		name: "sse",
		direct: func(t *testing.T, x *exchange) {
			wantStatus(t, x, 200)
			wantBody(t, x, sseBody)
			wantHeader(t, x, "Content-Type", "text/event-stream")
		},
		proxied: func(t *testing.T, e *env, x *exchange) {
			wantStatus(t, x, 200)
			wantBody(t, x, sseBody)
			wantHeader(t, x, "Content-Type", "text/event-stream")
		},
	},
	{
		name: "no-content",
		direct: func(t *testing.T, x *exchange) {
			wantStatus(t, x, 204)
			wantHeader(t, x, "X-Case", "no-content")
		},
		proxied: func(t *testing.T, e *env, x *exchange) {
			wantStatus(t, x, 204)
			wantBody(t, x, "")
			wantHeader(t, x, "X-Case", "no-content")
			// RFC 9110 section 6.4.1: a 204 has no body, so no type.
			wantNoHeader(t, x, "Content-Type")
			// RFC 9110 section 8.6: a server must not send
			// Content-Length in a 204.
			wantNoHeader(t, x, "Content-Length")
			wantReusable(t, e, x)
		},
	},
	{
		name: "not-modified",
		direct: func(t *testing.T, x *exchange) {
			wantStatus(t, x, 304)
			wantHeader(t, x, "ETag", `"v1"`)
		},
		proxied: func(t *testing.T, e *env, x *exchange) {
			wantStatus(t, x, 304)
			wantBody(t, x, "")
			wantHeader(t, x, "ETag", `"v1"`)
			wantHeader(t, x, "X-Case", "not-modified")
			wantNoHeader(t, x, "Content-Type")
			wantReusable(t, e, x)
		},
	},
	{
		name:   "head-length",
		method: "HEAD",
		direct: func(t *testing.T, x *exchange) {
			wantStatus(t, x, 200)
			wantHeader(t, x, "Content-Length", "1234")
		},
		// A HEAD answer carries the headers a GET would, Content-Length
		// included (RFC 9110 section 9.3.2), and no body.
		proxied: func(t *testing.T, e *env, x *exchange) {
			wantStatus(t, x, 200)
			wantHeader(t, x, "Content-Length", "1234")
			wantHeader(t, x, "X-Case", "head-length")
			wantHeader(t, x, "Content-Type", "application/json")
			wantReusable(t, e, x)
		},
	},
	{
		name:   "head-nolength",
		method: "HEAD",
		direct: func(t *testing.T, x *exchange) {
			wantStatus(t, x, 200)
			wantHeader(t, x, "X-Case", "head-nolength")
			if x.resp.Header.Get("Content-Length") != "" {
				t.Errorf("app sent a Content-Length: %s", x.describe())
			}
		},
		proxied: func(t *testing.T, e *env, x *exchange) {
			wantStatus(t, x, 200)
			wantHeader(t, x, "X-Case", "head-nolength")
			wantHeader(t, x, "Content-Type", "application/json")
			wantReusable(t, e, x)
		},
	},
	{
		name: "early-hints",
		direct: func(t *testing.T, x *exchange) {
			wantStatus(t, x, 103)
			x.readAnswer("GET")
			wantStatus(t, x, 200)
			wantJSONCase(t, x, "early-hints")
		},
		// The interim 103 is dropped: the validator gets the final answer
		// only. httputil.ReverseProxy forwards 1xx answers to its client;
		// fibergate's upstream client (fasthttp's) reads past interim
		// answers and hands over the final one, and a Fiber validator has
		// no use for hints.
		proxied: func(t *testing.T, e *env, x *exchange) {
			wantStatus(t, x, 200)
			wantJSONCase(t, x, "early-hints")
			wantHeader(t, x, "X-Case", "early-hints")
			if bytes.Contains(x.wire.Bytes(), []byte(" 103 ")) {
				t.Errorf("the 103 reached the validator: %s", x.describe())
			}
		},
	},
	{
		name: "truncated",
		direct: func(t *testing.T, x *exchange) {
			wantStatus(t, x, 200)
			wantCut(t, x, "line 1\nline 2\n")
		},
		proxied: func(t *testing.T, e *env, x *exchange) {
			wantStatus(t, x, 200)
			wantHeader(t, x, "X-Case", "truncated")
			wantCut(t, x, "line 1\nline 2\n")
		},
	},
	{
		name: "huge-length",
		direct: func(t *testing.T, x *exchange) {
			wantStatus(t, x, 200)
			wantHeader(t, x, "Content-Length", "1099511627776")
		},
		// Buffered answers are bounded by limits.max_response (10 MiB):
		// a length over it is refused before a byte of it is held.
		proxied: func(t *testing.T, e *env, x *exchange) {
			wantError(t, x, 502, "upstream_too_large")
		},
	},
	{
		name: "short-body",
		direct: func(t *testing.T, x *exchange) {
			wantStatus(t, x, 200)
			wantHeader(t, x, "Content-Length", "100")
			if x.err == nil {
				t.Errorf("app's short body read without error: %s", x.describe())
			}
		},
		proxied: func(t *testing.T, e *env, x *exchange) {
			wantError(t, x, 502, "upstream_unavailable")
		},
	},
	{
		name: "idle-close",
		direct: func(t *testing.T, x *exchange) {
			wantStatus(t, x, 200)
			wantJSONCase(t, x, "idle-close")
			if _, err := x.conn.Write(rawRequest("GET", "/v1/echo", nil, nil)); err != nil {
				t.Fatal(err)
			}
			x.readAnswer("GET")
			if x.resp != nil {
				t.Errorf("the app answered the next request on the connection: %s", x.describe())
			}
		},
		// Not in the brief's matrix: an app closes a kept-alive
		// connection just as the next request arrives on it, as when its
		// keep-alive timeout (5 s in uvicorn and Node) fires then, while
		// fibergate keeps idle connections longer. No byte of an answer
		// came, so the request may be sent again on a new connection
		// (RFC 9112 section 9.3.1 for idempotent requests); Go's
		// http.Transport, and so httputil.ReverseProxy, does so for a
		// reused connection. The validator must get its answer, not 502.
		proxied: func(t *testing.T, e *env, x *exchange) {
			wantStatus(t, x, 200)
			wantJSONCase(t, x, "idle-close")
			y := roundTrip(t, e.fg.addr, rawRequest("GET", "/v1/echo?after=idle-close", nil, nil), "GET")
			if y.err != nil || y.resp.StatusCode != http.StatusOK {
				t.Fatalf("the next request, sent on the connection the app then closed: %s", y.describe())
			}
			if got := decodeEcho(t, y.body); got.Query != "after=idle-close" {
				t.Errorf("the next request got the answer to %q", got.Query)
			}
		},
	},
	{
		name: "connection-named",
		direct: func(t *testing.T, x *exchange) {
			wantStatus(t, x, 200)
			wantHeader(t, x, "X-Secret", "1")
			// Read on the wire: net/http drops a Connection header
			// that says close.
			if !bytes.Contains(bytes.ToLower(x.wire.Bytes()), []byte("\r\nconnection: x-secret")) {
				t.Errorf("app's answer has no Connection header naming X-Secret: %s", x.describe())
			}
		},
		// RFC 9110 section 7.6.1: headers the Connection header names
		// describe that connection and are removed with it.
		proxied: func(t *testing.T, e *env, x *exchange) {
			wantStatus(t, x, 200)
			wantJSONCase(t, x, "connection-named")
			wantNoHeader(t, x, "X-Secret")
			wantHeader(t, x, "X-Kept", "1")
			if c := x.resp.Header.Get("Connection"); strings.Contains(strings.ToLower(c), "x-secret") {
				t.Errorf("the app's Connection: %s reached the validator", c)
			}
		},
	},
	{
		name: "no-content-type",
		direct: func(t *testing.T, x *exchange) {
			wantStatus(t, x, 200)
			wantBody(t, x, noTypeBody)
			wantNoHeader(t, x, "Content-Type")
		},
		// Nothing is sniffed or defaulted: the validator gets the app's
		// headers and the framing fibergate's server writes.
		proxied: func(t *testing.T, e *env, x *exchange) {
			wantStatus(t, x, 200)
			wantBody(t, x, noTypeBody)
			wantNoHeader(t, x, "Content-Type")
			wantHeader(t, x, "X-Case", "no-content-type")
			for k := range x.resp.Header {
				switch k {
				case "Content-Length", "Date", "Server", "X-Case":
				default:
					t.Errorf("header %s: %q added", k, x.resp.Header[k])
				}
			}
		},
	},
	{
		name: "long-line",
		direct: func(t *testing.T, x *exchange) {
			wantStatus(t, x, 200)
			wantBody(t, x, longLineBody)
		},
		// A plain stream passes through as it is: the line limit is for
		// encrypted streams, which hold a line to seal it.
		proxied: func(t *testing.T, e *env, x *exchange) {
			wantStatus(t, x, 200)
			wantBody(t, x, longLineBody)
			wantHeader(t, x, "X-Case", "long-line")
		},
	},
}

func (c answerCase) requestMethod() string {
	if c.method == "" {
		return "GET"
	}
	return c.method
}

// TestAppAnswers checks each app directly: that it gives each odd answer
// the response matrix asks of it.
func TestAppAnswers(t *testing.T) {
	for _, a := range apps {
		t.Run(a.name, func(t *testing.T) {
			addr := a.start(t)
			for _, c := range answerCases {
				t.Run(c.name, func(t *testing.T) {
					if why, ok := a.unsupported[c.name]; ok {
						t.Skipf("%s: %s", a.name, why)
					}
					m := c.requestMethod()
					c.direct(t, roundTrip(t, addr, rawRequest(m, "/v1/"+c.name, nil, nil), m))
				})
			}
		})
	}
}

// TestAnswers sends each odd answer through fibergate: the validator gets
// a sensible answer and fibergate keeps serving.
func TestAnswers(t *testing.T) {
	eachApp(t, fgOptions{}, func(t *testing.T, e *env) {
		for _, c := range answerCases {
			t.Run(c.name, func(t *testing.T) {
				e.skipUnsupported(t, c.name)
				defer e.checkAlive(t)
				m := c.requestMethod()
				before := e.fg.metric(t, streamsMetric("upstream_error"))
				x := roundTrip(t, e.fg.addr, rawRequest(m, "/v1/"+c.name, nil, nil), m)
				c.proxied(t, e, x)
				if c.name == "truncated" {
					waitMetricAbove(t, e.fg, streamsMetric("upstream_error"), before)
				}
			})
		}
	})
}

// waitMetricAbove waits up to a few seconds for series to exceed before.
func waitMetricAbove(t *testing.T, fg *fibergate, series string, before float64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		v := fg.metric(t, series)
		if v > before {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: still %v, want it above %v", series, v, before)
			return
		}
		time.Sleep(e2etest.PollEvery)
	}
}

func wantStatus(t *testing.T, x *exchange, status int) {
	t.Helper()
	if x.resp == nil || x.resp.StatusCode != status {
		t.Fatalf("want status %d: %s", status, x.describe())
	}
}

// wantBody checks the whole body arrived, framed cleanly.
func wantBody(t *testing.T, x *exchange, body string) {
	t.Helper()
	if x.err != nil {
		t.Errorf("body: %v: %s", x.err, x.describe())
	}
	if string(x.body) != body {
		got := string(x.body)
		if len(got) > 200 {
			got = got[:200] + "..."
		}
		t.Errorf("body %q (%d bytes), want %d bytes starting %q", got, len(x.body), len(body), body[:min(len(body), 40)])
	}
}

func wantJSONCase(t *testing.T, x *exchange, name string) {
	t.Helper()
	var v struct{ Case string }
	if err := json.Unmarshal(x.body, &v); err != nil || v.Case != name {
		t.Errorf("body %q, want the app's JSON for %s (%v)", x.body, name, err)
	}
}

func wantHeader(t *testing.T, x *exchange, name, value string) {
	t.Helper()
	if got := x.resp.Header.Values(name); len(got) != 1 || got[0] != value {
		t.Errorf("header %s: got %q, want [%q]", name, got, value)
	}
}

func wantNoHeader(t *testing.T, x *exchange, name string) {
	t.Helper()
	if got := x.resp.Header.Values(name); len(got) > 0 {
		t.Errorf("header %s: got %q, want none", name, got)
	}
}

// wantCut checks a chunked answer that was cut off: the part before the
// cut arrived, no terminating chunk, and the connection is closed.
func wantCut(t *testing.T, x *exchange, prefix string) {
	t.Helper()
	if !slices.Contains(x.resp.TransferEncoding, "chunked") {
		t.Errorf("a cut stream must be chunked for the cut to show; got %s", x.describe())
	}
	if x.err == nil {
		t.Errorf("the body read to a clean end; want it cut: %s", x.describe())
	}
	if x.endsWithLastChunk() {
		t.Errorf("the cut stream ends with the terminating chunk: %s", x.describe())
	}
	if !strings.HasPrefix(string(x.body), prefix) {
		t.Errorf("body %q, want it to start %q", x.body, prefix)
	}
	closed, err := x.connClosed(5 * time.Second)
	if err != nil {
		t.Error(err)
	} else if !closed {
		t.Errorf("the connection is still open 5s after the cut stream")
	}
}

// wantReusable checks that nothing follows an answer without a body on
// its kept-alive connection: the next request on it gets its own answer.
// An answer that closes the connection says so.
func wantReusable(t *testing.T, e *env, x *exchange) {
	t.Helper()
	if x.resp.Close {
		closed, err := x.connClosed(5 * time.Second)
		if err != nil || !closed {
			t.Errorf("answer said Connection: close but the connection stayed open (%v)", err)
		}
		return
	}
	if x.err != nil {
		return // already reported
	}
	if _, err := x.conn.Write(rawRequest("GET", "/v1/echo?reuse=1", nil, nil)); err != nil {
		t.Fatalf("writing a second request on the connection: %v", err)
	}
	x.readAnswer("GET")
	if x.err != nil || x.resp.StatusCode != http.StatusOK {
		t.Fatalf("the next answer on the connection: %s", x.describe())
	}
	if got := decodeEcho(t, x.body); got.Query != "reuse=1" {
		t.Errorf("the next answer on the connection was for %q, want reuse=1", got.Query)
	}
}
