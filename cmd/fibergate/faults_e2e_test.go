//go:build unix

package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/internal/e2etest"
	"github.com/fibergate/fibergate/keystore"
)

// signFiber returns Fiber's signed headers for a nonce stamped at: the
// signature by kp covers "{nonce}:{miner}:{third}".
func signFiber(t *testing.T, kp *sr25519.Keypair, at time.Time, third string) http.Header {
	t.Helper()
	n, err := client.Nonce(at, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := kp.Sign([]byte(n+":"+e2etest.Bob.SS58+":"+third), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h["validator-hotkey"] = []string{e2etest.Alice.SS58}
	h["miner-hotkey"] = []string{e2etest.Bob.SS58}
	h["nonce"] = []string{n}
	h["signature"] = []string{"0x" + hex.EncodeToString(sig[:])}
	return h
}

// captured is a request as someone who recorded the traffic holds it: the
// very bytes, which can be sent again.
type captured struct {
	name string
	path string
	r    signedRequest
}

// captureEncrypted signs and seals an encrypted-mode request under (key,
// uuid), its nonces stamped at.
func captureEncrypted(t *testing.T, kp *sr25519.Keypair, key *fernet.Key, uuid, name string, at time.Time) captured {
	t.Helper()
	h := signFiber(t, kp, at, uuid)
	h["symmetric-key-uuid"] = []string{uuid}
	h.Set("Content-Type", "application/octet-stream")
	return captured{name: name, path: "/echo", r: signedRequest{header: h, body: sealPrompt(t, key, name, at), prompt: name}}
}

// captureSigned signs a signed-mode request (Fiber 2.x light: no key, no
// encryption), its nonce stamped at.
func captureSigned(t *testing.T, kp *sr25519.Keypair, name string, at time.Time) captured {
	t.Helper()
	body := []byte(fmt.Sprintf(`{"prompt":%q}`, name))
	sum := sha256.Sum256(body)
	h := signFiber(t, kp, at, hex.EncodeToString(sum[:]))
	h.Set("Content-Type", "application/json")
	return captured{name: name, path: "/signed/echo", r: signedRequest{header: h, body: body, prompt: name}}
}

// expect sends c to addr and checks the status and, for a refusal, the
// error code.
func (c captured) expect(t *testing.T, addr, when string, status int, code string) {
	t.Helper()
	got, body := send(t, &http.Client{Timeout: e2etest.IOTimeout}, addr, c.r, c.path)
	if got != status || (code != "" && errorCode(body) != code) {
		t.Errorf("%s, %s: got %d %s, want %d %s", c.name, when, got, body, status, code)
	}
}

// replaySetup is a fibergate with persistence and a signed route, the same
// listen port across restarts, and //Alice's key exchanged.
type replaySetup struct {
	dir, cfg, addr, snap string
	env                  []string
	p                    *e2etest.Process
	c                    *client.Client
	kp                   *sr25519.Keypair
}

func newReplaySetup(t *testing.T, persist bool) *replaySetup {
	t.Helper()
	s := &replaySetup{dir: t.TempDir(), kp: e2etest.Alice.Keypair(t)}
	keyFile := writeRSAKey(t, s.dir)
	app := e2etest.DemoApp(t)
	tc := testConfig{upstreamURL: app, rsaKeyFile: keyFile, listen: e2etest.FreeAddr(t), signedRoute: true,
		persistEvery: "1s", shutdownGrace: "2s"}
	if persist {
		s.snap = filepath.Join(s.dir, "keys.snapshot")
		tc.persistFile = s.snap
	}
	s.cfg = tc.write(t, s.dir)
	s.env = e2etest.Env("FIBERGATE_STORAGE_KEY=" + keystore.GenerateStorageKey())
	s.start(t, true)
	s.c = e2etest.Alice.Handshaken(t, s.addr)
	return s
}

// start runs fibergate, and waits for /readyz when ready is set, or only
// for it to listen.
func (s *replaySetup) start(t *testing.T, ready bool) string {
	t.Helper()
	s.p = e2etest.StartFibergate(t, s.dir, s.env, "serve", "--config", s.cfg)
	var admin string
	if ready {
		s.addr, admin = s.p.WaitReady(t)
	} else {
		s.addr, admin = s.p.WaitUp(t)
	}
	return admin
}

// TestReplayAcrossRestart: requests captured before a restart (an
// encrypted one, a signed-mode one that needs no key, and one from a
// validator whose clock runs 15 s ahead) are never served after it: not
// after a clean SIGTERM (the replay guard is saved and restored, so honest
// validators lose nothing), not after kill -9 (the guard refuses every
// nonce stamped before the horizon it had recorded, and says so in
// /readyz until then).
func TestReplayAcrossRestart(t *testing.T) {
	t.Parallel()
	s := newReplaySetup(t, true)
	key, uuid := s.c.Key()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	capture := func(phase string) []captured {
		now := time.Now()
		return []captured{
			captureEncrypted(t, s.kp, key, uuid, phase+" encrypted", now),
			captureSigned(t, s.kp, phase+" signed", now),
			captureSigned(t, s.kp, phase+" signed, clock 15 s ahead", now.Add(15*time.Second)),
		}
	}
	clean := capture("clean")
	for _, c := range clean {
		c.expect(t, s.addr, "first use", http.StatusOK, "")
		c.expect(t, s.addr, "replayed", http.StatusUnauthorized, "nonce_replayed")
	}

	// A clean stop saves the guard; the next start restores it and serves
	// at once.
	s.p.Signal(t, syscall.SIGTERM)
	if code := s.p.WaitExit(t, e2etest.ExitTimeout); code != 0 {
		t.Fatalf("exit after SIGTERM: %d", code)
	}
	if !strings.Contains(s.p.Stderr.String(), "replay guard saved") {
		t.Errorf("no \"replay guard saved\" in the log:\n%s", s.p.Stderr.String())
	}
	if _, err := os.Stat(s.snap + ".replay"); err != nil {
		t.Fatalf("the replay guard's state: %v", err)
	}
	s.start(t, true)
	if !strings.Contains(s.p.Stderr.String(), "replay guard restored") {
		t.Errorf("no \"replay guard restored\" in the log:\n%s", s.p.Stderr.String())
	}
	for _, c := range clean {
		c.expect(t, s.addr, "replayed after a clean restart", http.StatusUnauthorized, "nonce_replayed")
	}
	if _, err := s.c.Post(ctx, "/echo", []byte(`{"prompt":"fresh after a clean restart"}`)); err != nil {
		t.Errorf("a fresh request right after a clean restart: %v", err)
	}

	// kill -9: no save.
	crash := capture("crash")
	for _, c := range crash {
		c.expect(t, s.addr, "first use", http.StatusOK, "")
	}
	s.p.Cmd.Process.Kill()
	s.p.WaitExit(t, e2etest.ExitTimeout)
	admin := s.start(t, false)
	status, body := e2etest.Get("http://" + admin + "/readyz")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "replay guard") {
		t.Errorf("/readyz right after a crash: got %d %q, want 503 naming the replay guard", status, body)
	}
	for _, c := range append(crash, clean...) {
		c.expect(t, s.addr, "replayed after kill -9", http.StatusServiceUnavailable, "nonce_unverifiable")
	}
	e2etest.WaitFor(t, 90*time.Second, "/readyz to answer 200 after the guard's floor", func() bool {
		st, _ := e2etest.Get("http://" + admin + "/readyz")
		return st == http.StatusOK
	})
	for _, c := range append(crash, clean...) {
		c.expect(t, s.addr, "replayed once ready again", http.StatusServiceUnavailable, "nonce_unverifiable")
	}
	if _, err := s.c.Post(ctx, "/echo", []byte(`{"prompt":"fresh after kill -9"}`)); err != nil {
		t.Errorf("a fresh request once ready after kill -9 (the key from the periodic snapshot): %v", err)
	}
	_, metrics := e2etest.Get("http://" + admin + "/metrics")
	if v := metricValue(t, metrics, "fibergate_nonce_guard_lost_total"); v != 1 {
		t.Errorf("fibergate_nonce_guard_lost_total after kill -9: %v, want 1", v)
	}
	s.p.Signal(t, syscall.SIGTERM)
	s.p.WaitExit(t, e2etest.ExitTimeout)
}

// TestReplayAcrossRestartWithoutPersistence: without persist_file nothing
// survives a restart, so every nonce stamped before the start is refused.
func TestReplayAcrossRestartWithoutPersistence(t *testing.T) {
	t.Parallel()
	s := newReplaySetup(t, false)
	c := captureSigned(t, s.kp, "signed", time.Now())
	c.expect(t, s.addr, "first use", http.StatusOK, "")
	s.p.Signal(t, syscall.SIGTERM)
	s.p.WaitExit(t, e2etest.ExitTimeout)
	s.start(t, true)
	c.expect(t, s.addr, "replayed after a restart", http.StatusServiceUnavailable, "nonce_unverifiable")
	captureSigned(t, s.kp, "fresh", time.Now()).expect(t, s.addr, "fresh after the restart", http.StatusOK, "")
}
