package proxy_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/proxy"
)

// TestEndToEnd drives the validator client against fibergate in front of a
// real app on loopback: handshake, encrypted posts with plain and encrypted
// answers, streams, signed mode, public and deny routes.
func TestEndToEnd(t *testing.T) {
	up := startUpstream(t)
	g := startGate(t, gateOptions{
		upstream: up.URL,
		routes: []proxy.Route{
			{Path: "/healthcheck", Mode: proxy.ModePublic},
			{Path: "/admin/*", Mode: proxy.ModeDeny},
			{Path: "/signed", Mode: proxy.ModeSigned},
			{Path: "/plain/*", Mode: proxy.ModeEncrypted, Response: proxy.ResponsePlain},
			{Path: "/stream/enc/*", Mode: proxy.ModeEncrypted, Response: proxy.ResponseEncrypted},
		},
	})
	c := newClient(t, g, aliceSeed)
	ctx := context.Background()
	if err := c.Handshake(ctx); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	_, uuid := c.Key()

	t.Run("encrypted post, encrypted answer", func(t *testing.T) {
		before := len(up.requests())
		resp, err := c.Post(ctx, "/echo?x=1", []byte(`{"prompt": "What is 2+2?"}`))
		if err != nil {
			t.Fatal(err)
		}
		if !resp.Encrypted {
			t.Errorf("answer was not encrypted though the client asked for it")
		}
		if !strings.HasPrefix(string(resp.Body), `{"prompt": "What is 2+2?", "nonce": "`) {
			t.Errorf("decrypted answer: got %q", resp.Body)
		}
		reqs := up.requests()[before:]
		if len(reqs) != 1 {
			t.Fatalf("upstream got %d requests, want 1", len(reqs))
		}
		got := reqs[0]
		if string(got.Body) != string(resp.Body) {
			t.Errorf("the app saw %q; the validator encrypted %q", got.Body, resp.Body)
		}
		if got.Path != "/echo" || got.Query != "x=1" || got.Method != "POST" {
			t.Errorf("app saw %s %s?%s, want POST /echo?x=1", got.Method, got.Path, got.Query)
		}
		wantHeaders := map[string]string{
			"Content-Type":                "application/json",
			"X-Fiber-Validator-Hotkey":    c.Validator(),
			"X-Fiber-Validator-Stake":     "5000",
			"X-Fiber-Symmetric-Key-Uuid":  uuid,
			"Signature":                   "",
			"X-Fiber-Response-Encryption": "",
		}
		for k, want := range wantHeaders {
			if v := got.Header.Get(k); v != want {
				t.Errorf("app header %s: got %q, want %q", k, v, want)
			}
		}
		if resp.Header.Get("X-App") != "yes" {
			t.Errorf("app's own response header was not passed on")
		}
	})

	t.Run("plain answer route", func(t *testing.T) {
		resp, err := c.Post(ctx, "/plain/x", []byte(`{"a":1}`))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Encrypted || !strings.HasPrefix(string(resp.Body), `{"a":1, "nonce": "`) {
			t.Errorf("got encrypted=%v body %q, want the plain echo", resp.Encrypted, resp.Body)
		}
	})

	t.Run("status and headers pass through", func(t *testing.T) {
		_, err := c.Post(ctx, "/status/418", []byte(`{}`))
		var e *client.Error
		if !errors.As(err, &e) || e.Status != 418 {
			t.Fatalf("got %v, want the app's 418", err)
		}
	})

	t.Run("stream, plain, first line before the app finishes", func(t *testing.T) {
		testStream(t, up, c, "/stream/plain", false)
	})
	t.Run("stream, encrypted line by line", func(t *testing.T) {
		testStream(t, up, c, "/stream/enc/x", true)
	})

	t.Run("signed mode", func(t *testing.T) {
		before := len(up.requests())
		body := []byte(`{"hello": "signed"}`)
		resp, err := c.SignedPost(ctx, "/signed", body)
		if err != nil {
			t.Fatal(err)
		}
		if string(resp.Body) != string(body) {
			t.Errorf("got %q, want the body echoed as it was", resp.Body)
		}
		reqs := up.requests()[before:]
		if len(reqs) != 1 || string(reqs[0].Body) != string(body) || reqs[0].Header.Get("X-Fiber-Validator-Hotkey") != c.Validator() {
			t.Errorf("app saw %+v", reqs)
		}
	})

	t.Run("signed GET, Fiber 2.4 style", func(t *testing.T) {
		kp := aliceKeypair(t)
		n := freshNonce(g.Clock.Now())
		h := signedHeaders(t, kp, n, g.Miner, "")
		status, _, body := rawRequest(t, "GET", g.URL+"/signed", h, nil)
		if status != 200 {
			t.Fatalf("got %d %s, want 200", status, body)
		}
	})

	t.Run("encrypted GET, Fiber 2.4 style", func(t *testing.T) {
		resp, err := c.Get(ctx, "/echo-get")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(resp.Body), "") || resp.Status != 200 {
			t.Errorf("got %d %q", resp.Status, resp.Body)
		}
	})

	t.Run("public route", func(t *testing.T) {
		before := len(up.requests())
		status, _, body := rawRequest(t, "GET", g.URL+"/healthcheck", http.Header{"X-Fiber-Validator-Hotkey": {"forged"}}, nil)
		if status != 200 {
			t.Fatalf("got %d %s", status, body)
		}
		reqs := up.requests()[before:]
		if len(reqs) != 1 || reqs[0].Header.Get("X-Fiber-Validator-Hotkey") != "" {
			t.Errorf("a forged X-Fiber-* header reached the app: %+v", reqs)
		}
	})

	t.Run("deny route", func(t *testing.T) {
		before := len(up.requests())
		status, _, body := rawRequest(t, "GET", g.URL+"/admin/x", nil, nil)
		if status != 404 || errorCode(body) != "not_found" {
			t.Errorf("got %d %s, want 404 not_found", status, body)
		}
		if n := len(up.requests()) - before; n != 0 {
			t.Errorf("app got %d requests for a deny route", n)
		}
	})

	t.Run("unknown key asks for a handshake", func(t *testing.T) {
		g.Keys.Delete(mustPub(c.Validator()), []byte(uuid))
		_, err := c.Post(ctx, "/echo", []byte(`{}`))
		var e *client.Error
		if !errors.As(err, &e) || e.Code != "unknown_key" || !e.RequiresHandshake || e.Status != 400 {
			t.Fatalf("got %v, want 400 unknown_key with requires_handshake", err)
		}
	})
}

// testStream checks that a streamed answer reaches the validator line by
// line while the app is still writing: the app holds its second line until
// the client has read the first.
func testStream(t *testing.T, up *upstream, c *client.Client, path string, encrypted bool) {
	t.Helper()
	release := make(chan struct{})
	up.mu.Lock()
	up.release = release
	up.mu.Unlock()
	defer func() {
		up.mu.Lock()
		up.release = nil
		up.mu.Unlock()
	}()
	var lines []string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	released := false
	status, err := c.Stream(ctx, path, []byte(`{}`), func(line []byte) error {
		lines = append(lines, string(line))
		if !released {
			released = true
			close(release) // the first line arrived before the app went on
		}
		return nil
	})
	if err != nil || status != 200 {
		t.Fatalf("stream: status %d, err %v", status, err)
	}
	want := []string{"data: line 0", "data: line 1", "data: line 2"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("lines: got %q, want %q", lines, want)
	}
	_ = encrypted
}

// TestStreamIsEncryptedOnTheWire reads an encrypted stream with a plain HTTP
// client: every line must be a Fernet token, none the app's text.
func TestStreamIsEncryptedOnTheWire(t *testing.T) {
	up := startUpstream(t)
	g := startGate(t, gateOptions{upstream: up.URL, routes: []proxy.Route{
		{Path: "/stream/*", Mode: proxy.ModeEncrypted, Response: proxy.ResponseEncrypted},
	}})
	c := newClient(t, g, aliceSeed)
	if err := c.Handshake(context.Background()); err != nil {
		t.Fatal(err)
	}
	key, uuid := c.Key()
	kp := aliceKeypair(t)
	h := signedHeaders(t, kp, freshNonce(g.Clock.Now()), g.Miner, uuid)
	h["symmetric-key-uuid"] = []string{uuid}
	body := encryptBody(t, key, `{"nonce": "`+freshNonce(g.Clock.Now())+`"}`, g.Clock.Now())
	req, _ := http.NewRequest("POST", g.URL+"/stream/x", strings.NewReader(string(body)))
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("X-Fiber-Encrypted") != "fernet" {
		t.Errorf("X-Fiber-Encrypted: got %q", resp.Header.Get("X-Fiber-Encrypted"))
	}
	sc := bufio.NewScanner(resp.Body)
	n := 0
	for sc.Scan() {
		line := sc.Bytes()
		plain, _, err := key.Decrypt(nil, line)
		if err != nil {
			t.Fatalf("line %d is not a token under the key: %q", n, line)
		}
		if want := "data: line " + string(rune('0'+n)); string(plain) != want {
			t.Errorf("line %d: got %q, want %q", n, plain, want)
		}
		n++
	}
	if n != 3 {
		t.Errorf("got %d lines, want 3", n)
	}
}

// hashHex is the lower-case hex SHA-256 of b.
func hashHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
