package proxy

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/internal/headers"
	"github.com/fibergate/fibergate/keystore"
	"github.com/fibergate/fibergate/metrics"
	"github.com/fibergate/fibergate/replay"
	"github.com/fibergate/fibergate/validators"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// fuzzStakes is a fixed validator list whose minimum stake is 1000.
type fuzzStakes map[[32]byte]float64

func (s fuzzStakes) Stake(pub [32]byte) (float64, bool, bool) {
	v, ok := s[pub]
	return v, ok, ok && validators.Eligible(v, 1000)
}

var (
	fuzzOnce    sync.Once
	fuzzHandler *Handler
)

// handlerForFuzz builds one handler whose upstream is a closed port and
// whose every route needs a signature: no fuzzed request can legitimately
// reach the upstream, so any 5xx it gets is a bug.
func handlerForFuzz(tb testing.TB) *Handler {
	fuzzOnce.Do(func() {
		key, err := rsakey.Generate(2048, rand.Reader)
		if err != nil {
			panic(err)
		}
		alice, _, _ := ss58.Decode("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY")
		bob, _, _ := ss58.Decode("5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty")
		keys := keystore.NewMemory(keystore.MemoryOptions{})
		guard := replay.NewMemory(replay.MemoryOptions{})
		h, err := New(Options{
			MinerHotkey: bob,
			RSAKey:      key,
			Keys:        keys,
			Nonces:      guard,
			Stakes:      fuzzStakes{alice: 5000},
			Routes: []Route{
				{Path: "/signed/*", Mode: ModeSigned},
				{Path: "/deny/*", Mode: ModeDeny},
				{Path: "/stream/*", Mode: ModeEncrypted, Response: ResponseEncrypted},
			},
			Default:     Route{Mode: ModeEncrypted},
			UpstreamURL: "http://127.0.0.1:1",
			Metrics:     metrics.New(prometheus.NewRegistry(), metrics.Build{}, metrics.Gauges{}),
		})
		if err != nil {
			panic(err)
		}
		fuzzHandler = h
	})
	return fuzzHandler
}

// FuzzServe feeds raw HTTP requests through the whole handler: header
// parsing, both handshake forms, every route mode. Whatever the bytes, it
// must not panic and must answer below 500.
func FuzzServe(f *testing.F) {
	now := time.Now().UnixNano()
	seeds := []string{
		"GET /public-encryption-key HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /exchange-symmetric-key HTTP/1.1\r\nHost: a\r\nvalidator-hotkey: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY\r\nminer-hotkey: 5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty\r\nnonce: " + itoa(now) + "_abc\r\nsignature: 0x" + strings.Repeat("ab", 64) + "\r\nsymmetric-key-uuid: u\r\nContent-Length: 35\r\n\r\n{\"encrypted_symmetric_key\": \"AAAA\"}",
		"POST /exchange-symmetric-key HTTP/1.1\r\nHost: a\r\nhotkey: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY\r\nsignature: 0x" + strings.Repeat("cd", 64) + "\r\nContent-Length: 104\r\n\r\n{\"ss58_address\": \"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY\", \"symmetric_key_uuid\": \"u\", \"n\": 1}",
		"POST /x HTTP/1.1\r\nHost: a\r\nValidator-Hotkey: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY\r\nMiner-Hotkey: 5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty\r\nNonce: 1_a\r\nSignature: 0x00\r\nSymmetric-Key-Uuid: u\r\nContent-Length: 4\r\n\r\ngAAA",
		"GET /signed/x HTTP/1.1\r\nHost: a\r\nvalidator-hotkey: x\r\nminer-hotkey: y\r\nnonce: 1_a\r\nsignature: 0x\r\n\r\n",
		"GET /deny/x HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /stream/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		h := handlerForFuzz(t)
		var req fasthttp.Request
		if err := req.Read(bufio.NewReader(bytes.NewReader(raw))); err != nil {
			return // fasthttp's own parser refuses it before the handler
		}
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1234}, nil)
		h.Serve(&ctx)
		if s := ctx.Response.StatusCode(); s >= 500 {
			t.Fatalf("answered %d %s to %q", s, ctx.Response.Body(), raw)
		}
	})
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// FuzzRouteMatch checks matching never panics and agrees with a plain
// reading of the rule: ASCII case and one trailing "/" do not matter, ı ſ
// and K count as i s and k, and "/p/*" covers "/p".
func FuzzRouteMatch(f *testing.F) {
	for _, s := range []string{"/", "/stream/", "/stream", "/a/b/c", "", "*", "/healthcheck", "/HEALTHCHECK/", "/\u017ftream/x"} {
		f.Add(s)
	}
	rs := []Route{{Path: "/healthcheck"}, {Path: "/stream/*"}, {Path: "/a/*"}, {Path: "/Mixed/Case/*"}}
	rt := newRouteTable(rs, Route{})
	plain := func(s string) string {
		s = strings.NewReplacer("\u0131", "i", "\u017f", "s", "\u212a", "k").Replace(s)
		s = strings.Map(func(r rune) rune {
			if 'A' <= r && r <= 'Z' {
				return r + 'a' - 'A'
			}
			return r
		}, s)
		if len(s) > 1 {
			s = strings.TrimSuffix(s, "/")
		}
		return s
	}
	f.Fuzz(func(t *testing.T, path string) {
		if !utf8.ValidString(path) {
			return // the canonical path is re-encoded; invalid UTF-8 never has ı ſ K
		}
		got := rt.match([]byte(path)).label
		want := "default"
		p := plain(path)
		for _, r := range rs {
			if base, ok := strings.CutSuffix(r.Path, "/*"); ok {
				base = plain(base)
				if p == base || strings.HasPrefix(p, base+"/") {
					want = r.Path
					break
				}
			} else if p == plain(r.Path) {
				want = r.Path
				break
			}
		}
		if got != want {
			t.Fatalf("match(%q) = %q, want %q", path, got, want)
		}
	})
}

// FuzzUpstreamRequest reads a fuzzed chunked request, with a trailer
// section, the way fibergate's server does, builds the app's request from
// it, and checks what goes on the wire: well-formed, framed by one
// Content-Length holding the body, no field the trailer section carried,
// no header name other than letters, digits and "-", none that
// fibergate states or a Connection header named, and the validator's
// identity only as fibergate set it.
func FuzzUpstreamRequest(f *testing.F) {
	f.Add("X-Kept: 1\r\nConnection: x-a, X-B\r\nX-A: 1\r\n", "X-Fiber-Validator-Hotkey: 5Forged\r\nX_Forwarded_For: 6.6.6.6\r\n", "hello", true)
	f.Add("Trailer: X-T\r\nX.Fiber.Validator.Hotkey: 1\r\n", "X-T: 1\r\nX-Original-URL: /internal\r\n", `{"a":1}`, false)
	f.Add("Content-Type: text/plain\r\nX-HTTP-Method-Override: DELETE\r\n", "Host: evil\r\n", "", true)
	h := handlerForFuzz(f)
	f.Fuzz(func(t *testing.T, head, trailer, body string, verified bool) {
		raw := "POST /x HTTP/1.1\r\nHost: a\r\n" + head + "Transfer-Encoding: chunked\r\n\r\n" +
			strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\n" + trailer + "\r\n"
		var in fasthttp.Request
		if err := in.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			return // fibergate's server refuses it before the handler
		}
		if badFraming(&in) {
			return
		}
		call := upstreamCall{body: in.Body(), keepType: true}
		if verified {
			call.caller = caller{id: &identity{ss58: "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"}, stake: 5000}
			call.uuid = []byte("u")
		}
		var out fasthttp.Request
		h.buildUpstreamRequest(&out, &in, outbound{method: fasthttp.MethodPost, target: []byte("/x")}, &call)
		var wire bytes.Buffer
		bw := bufio.NewWriter(&wire)
		if err := out.Write(bw); err != nil {
			t.Fatalf("writing the app's request: %v", err)
		}
		bw.Flush()

		var got fasthttp.Request
		br := bufio.NewReader(bytes.NewReader(wire.Bytes()))
		if err := got.Read(br); err != nil {
			t.Fatalf("the app's request does not parse: %v\n%q", err, wire.Bytes())
		}
		if br.Buffered() != 0 || !bytes.Equal(got.Body(), in.Body()) {
			t.Fatalf("the app's request frames another body: %q", wire.Bytes())
		}
		headEnd := bytes.Index(wire.Bytes(), []byte("\r\n\r\n"))
		lines := strings.Split(string(wire.Bytes()[:headEnd]), "\r\n")[1:]
		trailerNames := map[string]string{}
		for _, l := range strings.Split(trailer, "\r\n") {
			if k, v, ok := strings.Cut(l, ":"); ok {
				trailerNames[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
		lengths := 0
		for _, l := range lines {
			name, value, _ := strings.Cut(l, ":")
			value = strings.TrimSpace(value)
			lower := strings.ToLower(name)
			if !headers.Plain([]byte(name)) {
				t.Fatalf("the app received the header name %q", name)
			}
			switch {
			case lower == "content-length":
				lengths++
				if value != strconv.Itoa(len(in.Body())) {
					t.Fatalf("Content-Length %q for a body of %d", value, len(in.Body()))
				}
			case lower == "host":
				if value != h.upHost {
					t.Fatalf("Host %q", value)
				}
			case lower == "transfer-encoding", lower == "trailer", lower == "te", lower == "connection" && value != "close",
				lower == "signature", lower == "expect", lower == "upgrade":
				t.Fatalf("the app received %q", l)
			case lower == "x-fiber-validator-hotkey", lower == "x-fiber-validator-stake", lower == "x-fiber-symmetric-key-uuid":
				if !verified {
					t.Fatalf("the app received %q on a public request", l)
				}
			case strings.HasPrefix(lower, "x-fiber-"), isFibergateOwned([]byte(name)) &&
				lower != "x-forwarded-for" && lower != "x-real-ip" && lower != "forwarded":
				t.Fatalf("the app received %q", l)
			}
			if tv, ok := trailerNames[lower]; ok && tv == value && !bytes.Contains([]byte(head), []byte(value)) {
				t.Fatalf("the trailer field %q reached the app", l)
			}
		}
		if len(in.Body()) > 0 && lengths != 1 {
			t.Fatalf("%d Content-Length headers", lengths)
		}
	})
}
