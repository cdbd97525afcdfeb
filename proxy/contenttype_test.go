package proxy_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/fibergate/fibergate/proxy"
)

// An encrypted answer says application/octet-stream, and carries the app's
// own Content-Type in X-Fiber-Content-Type so a client that decrypts can
// put it back; a plain answer has the app's and no X-Fiber-Content-Type,
// and an app cannot set that header itself.
func TestEncryptedAnswerCarriesContentType(t *testing.T) {
	up := startUpstream(t)
	g := startGate(t, gateOptions{upstream: up.URL, routes: []proxy.Route{
		{Path: "/stream/*", Mode: proxy.ModeEncrypted, Response: proxy.ResponseEncrypted},
		{Path: "/whole", Mode: proxy.ModeEncrypted, Response: proxy.ResponseEncrypted},
		{Path: "/plain", Mode: proxy.ModeEncrypted, Response: proxy.ResponsePlain},
	}})
	c := newClient(t, g, aliceSeed)
	if err := c.Handshake(context.Background()); err != nil {
		t.Fatal(err)
	}
	key, uuid := c.Key()
	kp := aliceKeypair(t)
	for _, tc := range []struct {
		path, wantType, wantOriginal string
	}{
		{"/stream/x", "application/octet-stream", "text/event-stream"},
		{"/whole", "application/octet-stream", "application/json"},
		{"/plain", "application/json", ""},
	} {
		h := signedHeaders(t, kp, freshNonce(g.Clock.Now()), g.Miner, uuid)
		h["symmetric-key-uuid"] = []string{uuid}
		h.Set("X-Fiber-Content-Type", "forged/by-client")
		body := encryptBody(t, key, `{"nonce": "`+freshNonce(g.Clock.Now())+`"}`, g.Clock.Now())
		req, _ := http.NewRequest("POST", g.URL+tc.path, strings.NewReader(string(body)))
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tc.wantType || resp.Header.Get("X-Fiber-Content-Type") != tc.wantOriginal {
			t.Errorf("%s: %d, Content-Type %q, X-Fiber-Content-Type %q; want %q, %q", tc.path, resp.StatusCode,
				resp.Header.Get("Content-Type"), resp.Header.Get("X-Fiber-Content-Type"), tc.wantType, tc.wantOriginal)
		}
	}
}
