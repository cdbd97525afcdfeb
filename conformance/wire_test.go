//go:build unix

package conformance_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/internal/e2etest"
)

// header is one request header line, name as written on the wire.
type header struct{ name, value string }

// rawRequest builds an HTTP/1.1 request byte for byte: the target goes on
// the wire exactly as given, and so does every header. A non-nil body
// gets a Content-Length.
func rawRequest(method, target string, headers []header, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: fibergate.test\r\n", method, target)
	for _, h := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h.name, h.value)
	}
	if body != nil {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// exchange is one request written on a new connection and the answer
// read back, with every byte read kept as it came.
type exchange struct {
	resp *http.Response // nil when the head could not be read
	body []byte         // the body as read (de-chunked), up to any error
	err  error          // reading the head or the body
	wire bytes.Buffer   // every byte read from the connection
	conn net.Conn
	br   *bufio.Reader
}

// roundTrip writes req on a new connection to addr and reads one answer
// to a request of method. The connection stays open (closed in
// t.Cleanup) so a test can look at what follows.
func roundTrip(t *testing.T, addr string, req []byte, method string) *exchange {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dialing %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(e2etest.IOTimeout))
	if _, err := conn.Write(req); err != nil {
		t.Fatalf("writing the request: %v", err)
	}
	x := &exchange{conn: conn}
	x.br = bufio.NewReader(io.TeeReader(conn, &x.wire))
	x.readAnswer(method)
	return x
}

// readAnswer reads the next answer on x's connection.
func (x *exchange) readAnswer(method string) {
	x.resp, x.body, x.err = nil, nil, nil
	resp, err := http.ReadResponse(x.br, &http.Request{Method: method})
	if err != nil {
		x.err = fmt.Errorf("reading the answer's head: %w", err)
		return
	}
	x.resp = resp
	x.body, err = io.ReadAll(resp.Body)
	if err != nil {
		x.err = fmt.Errorf("reading the answer's body: %w", err)
	}
}

// describe sums up the exchange for a failure message.
func (x *exchange) describe() string {
	w := x.wire.Bytes()
	if len(w) > 600 {
		w = append(w[:600:600], "..."...)
	}
	status := 0
	if x.resp != nil {
		status = x.resp.StatusCode
	}
	return fmt.Sprintf("status %d, error %v, wire %q", status, x.err, w)
}

// connClosed reports whether the peer closed the connection within d
// after the answer: no more bytes, end of file (or a reset). Bytes that
// arrive instead are an error: nothing may follow an answer unasked.
func (x *exchange) connClosed(d time.Duration) (bool, error) {
	x.conn.SetReadDeadline(time.Now().Add(d))
	defer x.conn.SetReadDeadline(time.Now().Add(e2etest.IOTimeout))
	b, err := x.br.ReadByte()
	if err == nil {
		rest, _ := x.br.Peek(x.br.Buffered())
		return false, fmt.Errorf("unexpected bytes after the answer: %q", append([]byte{b}, rest...))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, nil
	}
	return true, nil
}

// endsWithLastChunk reports whether the wire holds the chunked body's
// terminating zero-size chunk.
func (x *exchange) endsWithLastChunk() bool {
	return bytes.HasSuffix(x.wire.Bytes(), []byte("\r\n0\r\n\r\n"))
}

// errorCode reads fibergate's JSON error body {"detail", "error"}.
func errorCode(body []byte) (string, bool) {
	var e struct {
		Detail *string `json:"detail"`
		Error  string  `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Detail == nil {
		return "", false
	}
	return e.Error, true
}

// wantError checks that x is fibergate's error answer with status and
// code.
func wantError(t *testing.T, x *exchange, status int, code string) {
	t.Helper()
	if x.resp == nil {
		t.Errorf("got no answer, want %d %s: %s", status, code, x.describe())
		return
	}
	got, ok := errorCode(x.body)
	if x.resp.StatusCode != status || got != code || !ok {
		t.Errorf("got %d %q (JSON error body: %v), want %d with error %q: %s", x.resp.StatusCode, got, ok, status, code, x.describe())
	}
	if ct := x.resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error answer Content-Type %q, want application/json", ct)
	}
}

// echo is what an app's echo endpoint reports.
type echo struct {
	App     string
	Method  string
	Target  string // the request target as the app's server got it
	Path    string // the path decoded by the framework
	Query   string
	Headers [][]string // [name, value] pairs as the framework presents them
	Body    string     // base64
}

func decodeEcho(t *testing.T, body []byte) *echo {
	t.Helper()
	var e echo
	if err := json.Unmarshal(body, &e); err != nil || e.App == "" {
		t.Fatalf("not an app's echo (%v): %q", err, body)
	}
	return &e
}

// rawPath is the path part of the request target the app got.
func (e *echo) rawPath() string {
	p, _, _ := strings.Cut(e.Target, "?")
	return p
}

func (e *echo) body(t *testing.T) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(e.Body)
	if err != nil {
		t.Fatalf("echo body %q: %v", e.Body, err)
	}
	return b
}

// normName is the spelling-independent name of a header as an app could
// read it: lower case, "_" read as "-", and for WSGI the HTTP_ prefix
// taken off (HTTP_X_FIBER_VALIDATOR_HOTKEY is x-fiber-validator-hotkey).
func (e *echo) normName(name string) string {
	if e.App == "wsgiref" {
		name = strings.TrimPrefix(name, "HTTP_")
	}
	return strings.ToLower(strings.ReplaceAll(name, "_", "-"))
}

// values returns every value the app saw under norm (a normName).
func (e *echo) values(norm string) []string {
	var out []string
	for _, h := range e.Headers {
		if len(h) == 2 && e.normName(h[0]) == norm {
			out = append(out, h[1])
		}
	}
	return out
}

// matching returns "name: value" for every header whose normName passes
// keep, sorted.
func (e *echo) matching(keep func(norm string) bool) []string {
	var out []string
	for _, h := range e.Headers {
		if len(h) == 2 && keep(e.normName(h[0])) {
			out = append(out, e.normName(h[0])+": "+h[1])
		}
	}
	slices.Sort(out)
	return out
}

// canonicalPath is the spec's encoding of a decoded path for the app:
// every byte outside A-Z a-z 0-9 - . _ ~ ! $ & ' ( ) * , = : @ / as %XX
// with upper-case hex.
func canonicalPath(decoded string) string {
	const keep = "-._~!$&'()*,=:@/"
	var b strings.Builder
	for i := 0; i < len(decoded); i++ {
		c := decoded[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// percentDecode decodes every %XX of s; a malformed escape is an error.
func percentDecode(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("truncated escape at %d in %q", i, s)
		}
		v, err := hex.DecodeString(s[i+1 : i+3])
		if err != nil {
			return "", fmt.Errorf("bad escape at %d in %q", i, s)
		}
		b.WriteByte(v[0])
		i += 2
	}
	return b.String(), nil
}

// fiberHeaders returns the Fiber headers of a request for e's client,
// signed over third (the key uuid, or a signed-mode body's hash), sorted
// by name.
func (e *env) fiberHeaders(t *testing.T, third string) []header {
	t.Helper()
	h, err := e.cl.Headers(third)
	if err != nil {
		t.Fatal(err)
	}
	var out []header
	for k, vs := range h {
		for _, v := range vs {
			out = append(out, header{k, v})
		}
	}
	slices.SortFunc(out, func(a, b header) int { return strings.Compare(a.name, b.name) })
	return out
}

// encRequest builds an encrypted-mode request as Fiber's client sends it:
// signed headers over the key uuid, and, when payload is not nil, the
// payload with an inner nonce as one Fernet token. extra headers follow
// the Fiber ones.
func (e *env) encRequest(t *testing.T, method, target string, payload []byte, extra ...header) []byte {
	t.Helper()
	key, uuid := e.cl.Key()
	hs := append(e.fiberHeaders(t, uuid), header{"symmetric-key-uuid", uuid}, header{"X-Fiber-Response-Encryption", "fernet"})
	var body []byte
	if payload != nil {
		n, err := client.Nonce(time.Now(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := client.WithNonce(payload, n)
		if err != nil {
			t.Fatal(err)
		}
		if body, err = key.Seal(nil, plain); err != nil {
			t.Fatal(err)
		}
		hs = append(hs, header{"Content-Type", "application/octet-stream"})
	}
	return rawRequest(method, target, append(hs, extra...), body)
}

// signedRequest builds a Fiber 2.x signed-mode request: the body as it is,
// the signature over its SHA-256.
func (e *env) signedRequest(t *testing.T, method, target string, body []byte, extra ...header) []byte {
	t.Helper()
	sum := sha256.Sum256(body)
	hs := append(e.fiberHeaders(t, hex.EncodeToString(sum[:])), header{"Content-Type", "application/json"})
	return rawRequest(method, target, append(hs, extra...), body)
}

// decrypt opens one Fernet token under e's client key.
func (e *env) decrypt(t *testing.T, token []byte) []byte {
	t.Helper()
	key, _ := e.cl.Key()
	plain, _, err := key.Decrypt(nil, bytes.TrimSpace(token))
	if err != nil {
		t.Fatalf("decrypting %q: %v", token, err)
	}
	return plain
}
