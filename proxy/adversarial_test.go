package proxy_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/proxy"
)

// goroutineGuard fails t if, after the test, goroutines stay above what was
// running when it was called. Call it once the servers' pools are warm (a
// request has gone through), so only leaks can raise the count.
func goroutineGuard(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before+2 {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("goroutines: %d before, %d after\n%s", before, n, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// TestAdversarialWire sends malformed and hostile HTTP straight onto the
// socket, to the Fiber endpoints and to proxied paths: each gets a 4xx (or
// is cut off), the app sees none of them, and fibergate stays healthy.
func TestAdversarialWire(t *testing.T) {
	up := startUpstream(t)
	g := startGate(t, gateOptions{upstream: up.URL, maxBody: 4096, routes: []proxy.Route{
		{Path: "/open/*", Mode: proxy.ModePublic},
		{Path: "/admin/*", Mode: proxy.ModeDeny},
	}})
	if got := rawHTTP(t, g.URL, "GET /open/warm HTTP/1.1\r\nHost: a\r\n\r\n"); !strings.HasPrefix(got, "200") {
		t.Fatalf("warm-up request: %q", got)
	}
	goroutineGuard(t)
	long := strings.Repeat("a", 20<<10)
	cases := []struct{ name, req, want string }{
		{"CL and TE together", "POST /open/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"},
		{"TE not chunked", "POST /open/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", "400"},
		{"TE gzip, chunked", "POST /open/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "400"},
		{"two TE headers", "POST /open/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"},
		{"two different CLs", "POST /open/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde", "400"},
		{"two equal CLs", "POST /open/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd", "400"},
		{"negative CL", "POST /open/x HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", "400"},
		{"signed CL", "POST /open/x HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\nabcd", "400"},
		{"CL over max_body", "POST /open/x HTTP/1.1\r\nHost: a\r\nContent-Length: 99999\r\n\r\n", "413"},
		{"chunked over max_body", "POST /open/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n" + strings.Repeat("b", 0x2000) + "\r\n0\r\n\r\n", "413"},
		{"bad chunk size", "POST /open/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "400"},
		{"headers over max_header", "GET /open/x HTTP/1.1\r\nHost: a\r\nX-Big: " + long + "\r\n\r\n", "431"},
		{"URI over max_header", "GET /open/" + long + " HTTP/1.1\r\nHost: a\r\n\r\n", "431"},
		{"CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", "405"},
		{"TRACE", "TRACE /open/x HTTP/1.1\r\nHost: a\r\n\r\n", "405"},
		{"unknown method", "FOO /open/x HTTP/1.1\r\nHost: a\r\n\r\n", "405"},
		{"no Host in HTTP/1.1", "GET /open/x HTTP/1.1\r\n\r\n", "400"},
		{"path without slash", "GET open HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
		{"NUL in the request line", "GET /open/x\x00 HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
		{"space in a header name", "GET /open/x HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", "400"},
		{"HTTP/0.9", "GET /open/x\r\n\r\n", "400"},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", "400"},
		{"deny route via dot segments", "GET /open/../admin/x HTTP/1.1\r\nHost: a\r\n\r\n", "404"},
		{"deny route via percent-encoding", "GET /%61dmin/x HTTP/1.1\r\nHost: a\r\n\r\n", "404"},
		{"public key: POST", "POST /public-encryption-key HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", "405"},
		{"exchange: no headers, no body", "POST /exchange-symmetric-key HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", "422"},
		{"exchange: binary body", "POST /exchange-symmetric-key HTTP/1.1\r\nHost: a\r\nhotkey: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY\r\nContent-Length: 4\r\n\r\n\xff\xfe\x00\x01", "422"},
		{"exchange: huge nested JSON", "POST /exchange-symmetric-key HTTP/1.1\r\nHost: a\r\nhotkey: x\r\nContent-Length: 2000\r\n\r\n" + strings.Repeat("[", 2000), "422"},
		{"exchange: legacy form, hotkey garbage", "POST /exchange-symmetric-key HTTP/1.1\r\nHost: a\r\nhotkey: \xff\xff\r\nsignature: 0x00\r\nContent-Length: 120\r\n\r\n" +
			`{"ss58_address": "x", "symmetric_key_uuid": "u", "encrypted_symmetric_key": "", "timestamp": 1, "nonce": "n"}` + strings.Repeat(" ", 120-108), "403"},
		{"encrypted: hotkey of 10 KiB", "POST /x HTTP/1.1\r\nHost: a\r\nvalidator-hotkey: " + strings.Repeat("5", 10<<10) + "\r\nminer-hotkey: m\r\nnonce: 1_a\r\nsignature: 0x\r\nsymmetric-key-uuid: u\r\nContent-Length: 0\r\n\r\n", "403"},
		{"encrypted: control bytes in the nonce", "POST /x HTTP/1.1\r\nHost: a\r\nvalidator-hotkey: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY\r\nminer-hotkey: " + bobSS58 + "\r\nnonce: \x01\x02\r\nsignature: 0x00\r\nsymmetric-key-uuid: u\r\nContent-Length: 0\r\n\r\n", "400"},
		{"encrypted: uuid of 1 KiB", "POST /x HTTP/1.1\r\nHost: a\r\nvalidator-hotkey: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY\r\nminer-hotkey: m\r\nnonce: 1_a\r\nsignature: 0x\r\nsymmetric-key-uuid: " + strings.Repeat("u", 1024) + "\r\nContent-Length: 0\r\n\r\n", "400"},
		{"encrypted: header names upper case, signature garbage", "POST /x HTTP/1.1\r\nHost: a\r\nVALIDATOR-HOTKEY: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY\r\nMINER-HOTKEY: " + bobSS58 + "\r\nNONCE: " + freshNonce(time.Now()) + "\r\nSIGNATURE: 0xzz\r\nSYMMETRIC-KEY-UUID: u\r\nContent-Length: 0\r\n\r\n", "401"},
		{"encrypted: duplicate validator-hotkey", "POST /x HTTP/1.1\r\nHost: a\r\nvalidator-hotkey: a\r\nValidator-Hotkey: b\r\nminer-hotkey: m\r\nnonce: 1_a\r\nsignature: 0x\r\nsymmetric-key-uuid: u\r\nContent-Length: 0\r\n\r\n", "400"},
		{"signed headers on a GET to a deny route", "GET /admin/x HTTP/1.1\r\nHost: a\r\nvalidator-hotkey: a\r\n\r\n", "404"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(up.requests())
			if got := rawHTTP(t, g.URL, tc.req); !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %q, want %s", got, tc.want)
			}
			if n := len(up.requests()) - before; n != 0 {
				t.Errorf("the app received %d requests", n)
			}
		})
	}
	// Still healthy: a public request goes through.
	if got := rawHTTP(t, g.URL, "GET /open/ok HTTP/1.1\r\nHost: a\r\n\r\n"); !strings.HasPrefix(got, "200") {
		t.Errorf("after the attacks a plain request got %q", got)
	}
}
