package egress

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/internal/fibertest"
)

// A plain stream reaches the caller line by line as the miner writes it:
// the first line is read before the miner has written the second.
func TestPlainStreamArrivesAsItComes(t *testing.T) {
	release := make(chan struct{})
	r := newRig(t, rigOptions{miner: func(o *fibertest.Options) {
		o.Handler = func(w http.ResponseWriter, req *http.Request, plain []byte, key *fernet.Key) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: one\n\n")
			w.(http.Flusher).Flush()
			<-release
			io.WriteString(w, "data: two\n\n")
		}
	}})
	req, _ := http.NewRequest(http.MethodPost, r.url+r.minerPath("/sse"), strings.NewReader(`{}`))
	resp, err := r.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("got %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(release)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "\ndata: two\n\n" {
		t.Errorf("rest %q, %v", rest, err)
	}
}

// A stream the miner cuts reaches the caller as 200 whose body ends
// without its final chunk: an error, never a clean end, never a late 502.
func TestCutStreamLooksCut(t *testing.T) {
	r := newRig(t, rigOptions{})
	a := r.post(r.minerPath("/echo-stream"), `{"lines": 3, "cut": true}`)
	if a.status != 200 {
		t.Fatalf("status %d", a.status)
	}
	if a.err == nil {
		t.Errorf("the caller read %q and a clean end", a.body)
	}
	if !strings.HasPrefix(string(a.body), "{\"i\": 0, \"of\": 3}\n{\"i\": 1, \"of\": 3}\n{\"i\": 2, \"of\": 3}\n") {
		t.Errorf("the lines before the cut: %q", a.body)
	}
	eventually(t, "the stream counted as cut", func() bool {
		return r.counter("fibergate_egress_streams_total", map[string]string{"result": "miner_error"}) == 1
	})
	// A whole stream ends cleanly.
	a = r.post(r.minerPath("/echo-stream"), `{"lines": 2}`)
	if a.status != 200 || a.err != nil || string(a.body) != "{\"i\": 0, \"of\": 2}\n{\"i\": 1, \"of\": 2}\n" {
		t.Errorf("whole stream: %d %q %v", a.status, a.body, a.err)
	}
}

// sealing answers as fibergate's serve does with response: encrypted: a
// whole body as one token, a stream line by line, the app's Content-Type
// in X-Fiber-Content-Type.
func sealingMiner(bad string) func(o *fibertest.Options) {
	return func(o *fibertest.Options) {
		o.Handler = func(w http.ResponseWriter, req *http.Request, plain []byte, key *fernet.Key) {
			if req.Header.Get("X-Fiber-Response-Encryption") != "fernet" {
				http.Error(w, "egress did not ask for an encrypted answer", 500)
				return
			}
			w.Header().Set("X-Fiber-Encrypted", "fernet")
			w.Header().Set("Content-Type", "application/octet-stream")
			seal := func(s string) string {
				tok, err := key.Seal(nil, []byte(s))
				if err != nil {
					panic(err)
				}
				return string(tok)
			}
			switch req.URL.Path {
			case "/whole":
				w.Header().Set("X-Fiber-Content-Type", "application/json")
				w.Header().Set("X-App", "yes")
				w.WriteHeader(201)
				if bad == "whole" {
					io.WriteString(w, "gAAAAAnot-a-token")
					return
				}
				io.WriteString(w, seal(`{"answer": 42}`))
			case "/stream":
				w.Header().Set("X-Fiber-Content-Type", "text/event-stream")
				for i, l := range []string{"data: a", "", "data: b", ""} {
					if l == "" {
						io.WriteString(w, "\n")
					} else if bad == "line" && i == 2 {
						io.WriteString(w, "gAAAAAgarbage\n")
					} else {
						io.WriteString(w, seal(l)+"\n")
					}
					w.(http.Flusher).Flush()
				}
			}
		}
	}
}

// fibergate's encrypted answers are decrypted: a whole body, and a stream
// line by line; the answer loses the encryption marker and gets the app's
// Content-Type back.
func TestEncryptedAnswersDecrypted(t *testing.T) {
	r := newRig(t, rigOptions{miner: sealingMiner("")})
	a := r.post(r.minerPath("/whole"), `{}`)
	if a.status != 201 || string(a.body) != `{"answer": 42}` || a.header.Get("Content-Type") != "application/json" ||
		a.header.Get("X-Fiber-Encrypted") != "" || a.header.Get("X-Fiber-Content-Type") != "" || a.header.Get("X-App") != "yes" {
		t.Errorf("whole: %d %q %v", a.status, a.body, a.header)
	}
	a = r.post(r.minerPath("/stream"), `{}`)
	if a.status != 200 || a.err != nil || string(a.body) != "data: a\n\ndata: b\n\n" || a.header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("stream: %d %q %v %v", a.status, a.body, a.err, a.header)
	}
}

// An encrypted answer that does not decrypt is egress's 502 (whole) or a
// cut stream (a bad line), never garbage passed on as the answer.
func TestEncryptedAnswersThatDoNotDecrypt(t *testing.T) {
	r := newRig(t, rigOptions{miner: sealingMiner("whole")})
	if a := r.post(r.minerPath("/whole"), `{}`); a.status != 502 || a.code() != "miner_bad_answer" {
		t.Errorf("whole: %d %q %s", a.status, a.code(), a.body)
	}
	r = newRig(t, rigOptions{miner: sealingMiner("line")})
	a := r.post(r.minerPath("/stream"), `{}`)
	if a.status != 200 || a.err == nil || string(a.body) != "data: a\n\n" {
		t.Errorf("stream with a bad line: %d %q %v", a.status, a.body, a.err)
	}
	eventually(t, "the bad line counted", func() bool {
		return r.counter("fibergate_egress_streams_total", map[string]string{"result": "bad_line"}) == 1
	})
}

// What the miner sends back is relayed, less what describes its connection,
// and never anything that would pass for egress's own error; redirects are
// relayed, never followed.
func TestAnswerHeaders(t *testing.T) {
	r := newRig(t, rigOptions{miner: func(o *fibertest.Options) {
		o.Handler = func(w http.ResponseWriter, req *http.Request, plain []byte, key *fernet.Key) {
			w.Header().Set("X-Fibergate-Error", "handshake_failed")
			w.Header().Set("Connection", "X-Hop")
			w.Header().Set("X-Hop", "1")
			w.Header().Set("Keep-Alive", "timeout=5")
			w.Header().Set("X-App", "yes")
			if req.URL.Path == "/moved" {
				w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
				w.WriteHeader(302)
				return
			}
			w.WriteHeader(503)
			io.WriteString(w, "miner says no")
		}
	}})
	a := r.post(r.minerPath("/x"), `{}`)
	if a.status != 503 || a.code() != "" || string(a.body) != "miner says no" || a.header.Get("X-Hop") != "" ||
		a.header.Get("Keep-Alive") != "" || a.header.Get("X-App") != "yes" {
		t.Errorf("got %d %q %q %v", a.status, a.code(), a.body, a.header)
	}
	if r.counter("fibergate_egress_requests_total", map[string]string{"mode": "encrypted", "result": "miner_error"}) != 1 {
		t.Error("a miner's 503 is not counted as miner_error")
	}
	a = r.post(r.minerPath("/moved"), `{}`)
	if a.status != 302 || a.header.Get("Location") != "http://127.0.0.1:1/elsewhere" || a.code() != "" {
		t.Errorf("redirect: %d %v", a.status, a.header)
	}
}

// What reaches the miner: the caller's end-to-end headers, less hop-by-hop
// ones, those its Connection header names, X-Fibergate-*, and any header
// of a name egress signs, in any spelling.
func TestHeadersToMiner(t *testing.T) {
	r := newRig(t, rigOptions{})
	a := r.post(r.minerPath("/echo"), `{}`,
		"Connection", "X-Conn-Named", "X-Conn-Named", "1", "X-Fibergate-Whatever", "1",
		"Validator_Hotkey", "5Fforged", "Signature", "0xforged", "Symmetric-Key-Uuid", "forged",
		"Miner-Hotkey", "forged", "X-Fiber-Response-Encryption", "nope", "Accept", "application/json", "User-Agent", "vali/1")
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	h := r.miner.Received()[0].Header
	for _, gone := range []string{"X-Conn-Named", "X-Fibergate-Whatever", "Validator_hotkey"} {
		if _, ok := h[http.CanonicalHeaderKey(gone)]; ok {
			t.Errorf("%s reached the miner", gone)
		}
	}
	for k, v := range map[string]string{"Accept": "application/json", "User-Agent": "vali/1", "X-Fiber-Response-Encryption": "fernet"} {
		if h.Get(k) != v {
			t.Errorf("%s at the miner: %q, want %q", k, h.Get(k), v)
		}
	}
	if len(h.Values("Signature")) != 1 || len(h.Values("Symmetric-Key-Uuid")) != 1 || h.Get("Miner-Hotkey") != ss58Of(r.minerKey) {
		t.Errorf("signed headers: %v", h)
	}
}

// A key near the end of its life is renewed in the background: the request
// that notices uses the old key, later ones the new.
func TestKeyRenewal(t *testing.T) {
	r := newRig(t, rigOptions{egress: func(o *Options) { o.KeyTTL, o.RenewBefore = 3*time.Second, 2*time.Second }})
	uuidOf := func(i int) string { return r.miner.Received()[i].Header.Get("symmetric-key-uuid") }
	if a := r.post(r.minerPath("/echo"), `{}`); a.status != 200 {
		t.Fatal(a.status)
	}
	time.Sleep(1100 * time.Millisecond) // past renewAt (ttl - renew_before)
	if a := r.post(r.minerPath("/echo"), `{}`); a.status != 200 {
		t.Fatal(a.status)
	}
	if uuidOf(1) != uuidOf(0) {
		t.Error("the request that started the renewal did not use the old key")
	}
	// The far end counts the exchange when it answers; egress counts it
	// once the new key is in place, which is what the next request needs.
	renewed := func() bool {
		return r.counter("fibergate_egress_handshakes_total", map[string]string{"result": "ok", "trigger": "renew"}) == 1
	}
	eventually(t, "the renewal, counted", renewed)
	if n := r.miner.Exchanges(); n != 2 {
		t.Errorf("the miner saw %d exchanges, want 2", n)
	}
	if a := r.post(r.minerPath("/echo"), `{}`); a.status != 200 {
		t.Fatal(a.status)
	}
	if uuidOf(2) == uuidOf(0) {
		t.Error("after the renewal the old key is still used")
	}
}

// The timeouts bound each phase: the answer's headers (first_byte), each
// further piece (idle: a stalled stream is cut), the exchange (handshake).
func TestTimeouts(t *testing.T) {
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	r := newRig(t, rigOptions{
		egress: func(o *Options) {
			o.Timeouts = Timeouts{FirstByte: 300 * time.Millisecond, Idle: 300 * time.Millisecond}
		},
		miner: func(o *fibertest.Options) {
			o.Handler = func(w http.ResponseWriter, req *http.Request, plain []byte, key *fernet.Key) {
				if req.URL.Path == "/slow" {
					select {
					case <-stall:
					case <-time.After(5 * time.Second):
					}
					return
				}
				io.WriteString(w, "first\n")
				w.(http.Flusher).Flush()
				select {
				case <-stall:
				case <-time.After(5 * time.Second):
				}
			}
		},
	})
	start := time.Now()
	if a := r.post(r.minerPath("/slow"), `{}`); a.status != 504 || a.code() != "miner_timeout" || time.Since(start) > 4*time.Second {
		t.Errorf("first byte: %d %q after %v", a.status, a.code(), time.Since(start))
	}
	start = time.Now()
	a := r.post(r.minerPath("/stalls"), `{}`)
	if a.status != 200 || a.err == nil || string(a.body) != "first\n" || time.Since(start) > 4*time.Second {
		t.Errorf("idle: %d %q %v after %v", a.status, a.body, a.err, time.Since(start))
	}
}
