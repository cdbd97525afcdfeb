package proxy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fibergate/fibergate/proxy"
)

// The request-smuggling corpus: published attack payloads replayed at
// fibergate, each followed on the same connection by an innocent request,
// with everything the app received logged byte for byte and checked to be
// nothing but well-formed requests fibergate built, one per request the
// client sent as such.
//
// The payloads follow two published collections: the Transfer-Encoding
// obfuscations of defparam/smuggler (its exhaustive configuration: name,
// separator and value mutations, every control and high byte around the
// header), each in the CL.TE and TE.CL shapes smuggler sends; and the
// framing cases of the Http11Probe smuggling suite (Content-Length
// variants, chunk-size and chunk-extension oddities, bare CR and LF).

// smuggleTE returns smuggler's mutation families of the Transfer-Encoding
// header: each a header line (or lines) that some parser may read as
// "Transfer-Encoding: chunked".
func smuggleTE() map[string]string {
	m := map[string]string{
		"nameprefix1":  " Transfer-Encoding: chunked",
		"tabprefix1":   "Transfer-Encoding:\tchunked",
		"tabprefix2":   "Transfer-Encoding\t:\tchunked",
		"spacejoin1":   "Transfer Encoding: chunked",
		"underjoin1":   "Transfer_Encoding: chunked",
		"smashed":      "Transfer Encoding:chunked",
		"space1":       "Transfer-Encoding : chunked",
		"valueprefix1": "Transfer-Encoding:  chunked",
		"vertprefix1":  "Transfer-Encoding:\x0bchunked",
		"commaCow":     "Transfer-Encoding: chunked, cow",
		"cowComma":     "Transfer-Encoding: cow, chunked",
		"contentEnc":   "Content-Encoding: chunked",
		"linewrapped1": "Transfer-Encoding:\n chunked",
		"quoted":       `Transfer-Encoding: "chunked"`,
		"aposed":       "Transfer-Encoding: 'chunked'",
		"lazygrep":     "Transfer-Encoding: chunk",
		"sarcasm":      "TrAnSFer-EnCODinG: cHuNkeD",
		"yelling":      "TRANSFER-ENCODING: CHUNKED",
		"0dsuffix":     "Transfer-Encoding: chunked\r",
		"tabsuffix":    "Transfer-Encoding: chunked\t",
		"revdualchunk": "Transfer-Encoding: cow\r\nTransfer-Encoding: chunked",
		"0dspam":       "Transfer\r-Encoding: chunked",
		"nested":       "Transfer-Encoding: cow chunked bar",
		"spaceFF":      "Transfer-Encoding:\xffchunked",
		"accentCH":     "Transfer-Encoding: ch\x96nked",
		"accentTE":     "Transf\x82r-Encoding: chunked",
		"x-rout":       "X:X\rTransfer-Encoding: chunked",
		"x-nout":       "X:X\nTransfer-Encoding: chunked",
		"plain":        "Transfer-Encoding: chunked",
	}
	for _, r := range [][2]int{{0x01, 0x20}, {0x7f, 0x100}} {
		for i := r[0]; i < r[1]; i++ {
			c := string(rune(i))
			if i >= 0x80 {
				c = string([]byte{byte(i)})
			}
			m[fmt.Sprintf("midspace-%02x", i)] = "Transfer-Encoding:" + c + "chunked"
			m[fmt.Sprintf("postspace-%02x", i)] = "Transfer-Encoding" + c + ": chunked"
			m[fmt.Sprintf("prespace-%02x", i)] = c + "Transfer-Encoding: chunked"
			m[fmt.Sprintf("endspace-%02x", i)] = "Transfer-Encoding: chunked" + c
		}
	}
	return m
}

// smugglingCase is one attack: raw bytes sent as they are.
type smugglingCase struct {
	name string
	raw  string
}

// smuggledLine is the request a desync would make the app run.
const smuggledLine = "GET /open/smuggled HTTP/1.1"

func smugglingCorpus() []smugglingCase {
	var out []smugglingCase
	for name, gadget := range smuggleTE() {
		head := "POST /open/attack?m=" + name + " HTTP/1.1\r\n" + gadget + "\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\n"
		// CL.TE: the whole body by Content-Length; by chunking it ends
		// at the 0 chunk and the rest is a request of its own.
		clte := "0\r\n\r\n" + smuggledLine + "\r\nX: "
		out = append(out, smugglingCase{"clte/" + name, head + "Content-Length: " + strconv.Itoa(len(clte)) + "\r\n\r\n" + clte})
		// TE.CL: four bytes by Content-Length, the rest a request; by
		// chunking one chunk holding it.
		inner := smuggledLine + "\r\nHost: a\r\nContent-Length: 15\r\n\r\nx=1"
		tecl := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(inner), inner)
		out = append(out, smugglingCase{"tecl/" + name, head + "Content-Length: 4\r\n\r\n" + tecl})
	}
	const p = "POST /open/attack HTTP/1.1\r\nHost: a\r\n"
	chunk := func(line string) string {
		return p + "Transfer-Encoding: chunked\r\n\r\n" + line
	}
	for _, c := range []smugglingCase{
		{"cl-te-both", p + "Content-Length: 24\r\nTransfer-Encoding: chunked\r\n\r\nD\r\nhello-bananas\r\n0\r\n\r\n"},
		{"duplicate-cl", p + "Content-Length: 5\r\nContent-Length: 10\r\n\r\nhelloworld"},
		{"cl-comma-different", p + "Content-Length: 5, 10\r\n\r\nhelloworld"},
		{"cl-comma-same", p + "Content-Length: 5, 5\r\n\r\nhello"},
		{"cl-leading-zeros", p + "Content-Length: 005\r\n\r\nhello"},
		{"cl-trailing-space", p + "Content-Length: 5 \r\n\r\nhello"},
		{"cl-extra-leading-space", p + "Content-Length:  5\r\n\r\nhello"},
		{"cl-negative", p + "Content-Length: -1\r\n\r\n"},
		{"cl-plus", p + "Content-Length: +5\r\n\r\nhello"},
		{"cl-octal", p + "Content-Length: 0o5\r\n\r\nhello"},
		{"cl-hex", p + "Content-Length: 0x5\r\n\r\nhello"},
		{"cl-internal-space", p + "Content-Length: 1 0\r\n\r\nhello12345"},
		{"cl-overflow", p + "Content-Length: 18446744073709551621\r\n\r\nhello"},
		{"te-xchunked", p + "Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\nhello"},
		{"te-trailing-space", p + "Transfer-Encoding: chunked \r\nContent-Length: 5\r\n\r\nhello"},
		{"te-space-before-colon", p + "Transfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\nhello"},
		{"te-double-chunked", p + "Transfer-Encoding: chunked, chunked\r\nContent-Length: 5\r\n\r\nhello"},
		{"te-capital", p + "Transfer-Encoding: Chunked\r\nContent-Length: 5\r\n\r\nhello"},
		{"te-not-final", p + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"},
		{"te-http10", "POST /open/attack HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello"},
		{"te-empty", p + "Transfer-Encoding: \r\nContent-Length: 5\r\n\r\nhello"},
		{"te-leading-comma", p + "Transfer-Encoding: , chunked\r\nContent-Length: 5\r\n\r\nhello"},
		{"te-duplicate", p + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello"},
		{"clte-pipeline", p + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"tecl-pipeline", p + "Transfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n0\r\n\r\n"},
		{"chunk-bare-semicolon", chunk("5;\r\nhello\r\n0\r\n\r\n")},
		{"chunk-ext-invalid-token", chunk("5;bad[=x\r\nhello\r\n0\r\n\r\n")},
		{"chunk-ext-quoted-crlf", chunk("5;a=\"\r\n\"\r\nhello\r\n0\r\n\r\n")},
		{"chunk-ext-lf", chunk("5;\nhello\r\n0\r\n\r\n")},
		{"chunk-underscore", chunk("1_0\r\nhello world!!!!!\r\n0\r\n\r\n")},
		{"chunk-hex-prefix", chunk("0x5\r\nhello\r\n0\r\n\r\n")},
		{"chunk-plus", chunk("+5\r\nhello\r\n0\r\n\r\n")},
		{"chunk-trailing-ows", chunk("5 \r\nhello\r\n0\r\n\r\n")},
		{"chunk-leading-space", chunk(" 5\r\nhello\r\n0\r\n\r\n")},
		{"chunk-missing-crlf", chunk("5\r\nhello0\r\n\r\n")},
		{"chunk-spill", chunk("5\r\nhello!!\r\n0\r\n\r\n")},
		{"chunk-lf-only", chunk("5\nhello\n0\n\n")},
		{"chunk-size-overflow", chunk("ffffffffffffffff5\r\nhello\r\n0\r\n\r\n")},
		{"chunk-leading-zeros", chunk("00000005\r\nhello\r\n0\r\n\r\n")},
		{"chunk-smuggled-after-last", chunk("0\r\n\r\n" + smuggledLine + "\r\nHost: a\r\n\r\n")},
		{"chunk-trailer-smuggle", chunk("0\r\nX: 1\r\n\r\n" + smuggledLine + "\r\nHost: a\r\n\r\n")},
		{"bare-cr-header-value", p + "Content-Length: 5\r\nX-Test: val\rue\r\n\r\nhello"},
		{"bare-lf-headers", "POST /open/attack HTTP/1.1\nHost: a\nContent-Length: 5\n\nhello"},
		{"obs-fold", p + "X-Folded: a\r\n b\r\nContent-Length: 5\r\n\r\nhello"},
		{"nul-in-value", p + "X-Nul: a\x00b\r\nContent-Length: 5\r\n\r\nhello"},
		{"header-no-colon", p + "NoColon\r\nContent-Length: 5\r\n\r\nhello"},
		{"get-with-body-request", "GET /open/attack HTTP/1.1\r\nHost: a\r\nContent-Length: " + strconv.Itoa(len(smuggledLine)+14) + "\r\n\r\n" + smuggledLine + "\r\nHost: a\r\n\r\n"},
		{"expect-continue-smuggle", p + "Expect: 100-continue\r\nContent-Length: " + strconv.Itoa(len(smuggledLine)+14) + "\r\n\r\n" + smuggledLine + "\r\nHost: a\r\n\r\n"},
		{"absolute-uri", "POST http://evil/open/attack HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"},
		{"two-hosts", "POST /open/attack HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 5\r\n\r\nhello"},
		{"upgrade-h2c", p + "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nConnection: Upgrade, HTTP2-Settings\r\nContent-Length: 5\r\n\r\nhello"},
	} {
		out = append(out, smugglingCase{"probe/" + c.name, c.raw})
	}
	return out
}

// rawLogApp records every byte each connection brings and answers each
// request it can read strictly (Content-Length framing only, as fibergate
// always sends); anything else it records as malformed and hangs up on.
type rawLogApp struct {
	URL    string
	mu     sync.Mutex
	raw    []string // per ended connection, everything read
	active int      // connections not yet ended
}

func startRawLogApp(t *testing.T) *rawLogApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &rawLogApp{URL: "http://" + ln.Addr().String()}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			a.mu.Lock()
			a.active++
			a.mu.Unlock()
			go func() {
				defer wg.Done()
				defer c.Close()
				a.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return a
}

func (a *rawLogApp) serve(c net.Conn) {
	var log bytes.Buffer
	defer func() {
		a.mu.Lock()
		a.raw = append(a.raw, log.String())
		a.active--
		a.mu.Unlock()
	}()
	br := bufio.NewReader(io.TeeReader(c, &log))
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		target, err := readStrictRequest(br)
		if err != nil {
			return
		}
		body := "ok " + target
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
}

// logs waits until every connection has ended and returns what each
// brought.
func (a *rawLogApp) logs(t *testing.T) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.mu.Lock()
		active, raw := a.active, append([]string(nil), a.raw...)
		a.mu.Unlock()
		if active == 0 {
			return raw
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections to the app still open", active)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	requestLineRE = regexp.MustCompile(`^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) (/[!-~]*) HTTP/1\.1$`)
	fieldLineRE   = regexp.MustCompile(`^([!#$%&'*+\-.^_` + "`" + `|~0-9A-Za-z]+): ?([\t -~\x80-\xff]*)$`)
)

// readStrictRequest reads one request as RFC 9112 has it, with CRLF line
// ends, token field names, no Transfer-Encoding and at most one decimal
// Content-Length, and returns its target.
func readStrictRequest(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(line, "\r\n") {
		return "", fmt.Errorf("bare LF after the request line %q", line)
	}
	m := requestLineRE.FindStringSubmatch(strings.TrimSuffix(line, "\r\n"))
	if m == nil {
		return "", fmt.Errorf("malformed request line %q", line)
	}
	length := -1
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		if !strings.HasSuffix(l, "\r\n") {
			return "", fmt.Errorf("bare LF in field line %q", l)
		}
		l = strings.TrimSuffix(l, "\r\n")
		if l == "" {
			break
		}
		f := fieldLineRE.FindStringSubmatch(l)
		if f == nil || strings.ContainsRune(l, '\r') {
			return "", fmt.Errorf("malformed field line %q", l)
		}
		switch strings.ToLower(f[1]) {
		case "transfer-encoding", "trailer", "te", "upgrade", "expect":
			return "", fmt.Errorf("field %q reached the app", l)
		case "content-length":
			n, err := strconv.Atoi(f[2])
			if err != nil || n < 0 || length >= 0 || f[2] != strconv.Itoa(n) {
				return "", fmt.Errorf("Content-Length %q", l)
			}
			length = n
		}
	}
	if length > 0 {
		if _, err := io.CopyN(io.Discard, br, int64(length)); err != nil {
			return "", err
		}
	}
	return m[2], nil
}

// checkRawLog reads a connection's log as requests, fails on anything
// that is not one well-formed request, and returns how many it read.
func checkRawLog(t *testing.T, name, raw string) int {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(raw))
	for n := 0; ; n++ {
		_, err := readStrictRequest(br)
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Errorf("%s: the app received something other than a well-formed request: %v\nlog: %.400q", name, err, raw)
			return n
		}
	}
}

// forwarded is how many requests the handler sent to the app.
func forwarded(t *testing.T, g *gate) int {
	t.Helper()
	mfs, err := g.Reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if mf.GetName() == "fibergate_upstream_duration_seconds" {
			for _, m := range mf.GetMetric() {
				n += int(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return n
}

// TestSmugglingCorpus replays the corpus, each payload followed on its
// connection by an innocent request. fibergate must answer with 200 or
// 4xx, never 5xx; the app's raw log must be nothing but well-formed
// requests, exactly as many as fibergate forwarded (a body read as a
// request, or a request hidden in one, would make them differ); and no
// answer may come twice.
func TestSmugglingCorpus(t *testing.T) {
	app := startRawLogApp(t)
	g := startGate(t, gateOptions{upstream: app.URL, maxBody: 1 << 20, routes: []proxy.Route{
		{Path: "/open/*", Mode: proxy.ModePublic},
		{Path: "/internal/*", Mode: proxy.ModeDeny},
	}, def: &proxy.Route{Mode: proxy.ModeEncrypted}})
	addr := gateAddr(g)
	corpus := smugglingCorpus()
	statusRE := regexp.MustCompile(`HTTP/1\.1 (\d{3}) `)
	for i, c := range corpus {
		canary := fmt.Sprintf("/open/canary%d", i)
		got := rawExchange(t, addr, c.raw+"GET "+canary+" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		for _, status := range statusRE.FindAllStringSubmatch(got, -1) {
			if status[1][0] == '5' {
				t.Errorf("%s: fibergate answered %s: %.300q", c.name, status[1], got)
			}
		}
		if n := strings.Count(got, "ok "+canary); n > 1 {
			t.Errorf("%s: the innocent request was answered %d times", c.name, n)
		}
	}
	sent := forwarded(t, g)
	g.Handler.Close() // the app's connections end
	logs := app.logs(t)
	parsed := 0
	for i, raw := range logs {
		parsed += checkRawLog(t, fmt.Sprintf("app connection %d", i), raw)
	}
	if parsed != sent || sent == 0 {
		t.Errorf("the app read %d requests; fibergate forwarded %d", parsed, sent)
	}
	t.Logf("%d payloads: fibergate forwarded %d requests on %d connections, each read by the app as one well-formed request", len(corpus), sent, len(logs))
}
