package proxy

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fibergate/fibergate/crypto/nonce"
	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/keystore"
	"github.com/fibergate/fibergate/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

type fuzzStakes map[[32]byte]float64

func (s fuzzStakes) Stake(pub [32]byte) (float64, bool) { v, ok := s[pub]; return v, ok }

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
		keys := keystore.NewMemory(keystore.Options{})
		guard := nonce.NewGuard(nonce.Options{})
		h, err := New(Options{
			MinerHotkey: bob,
			RSAKey:      key,
			Keys:        keys,
			Nonces:      guard,
			Validators:  fuzzStakes{alice: 5000},
			MinStake:    1000,
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
