package e2etest

import (
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fibergate/fibergate/internal/testvectors"
)

// TestIdentities holds the dev identities to testdata/vectors: //Alice's
// and //Bob's seeds and addresses as sr25519.json lists them, //Dave's
// address as ss58.json does, and every seed deriving its address.
func TestIdentities(t *testing.T) {
	var sr struct {
		Keys []struct {
			URI           *string `json:"uri"`
			MiniSecretHex string  `json:"mini_secret_hex"`
			SS58          string  `json:"ss58"`
		} `json:"keys"`
	}
	testvectors.Load(t, "sr25519.json", &sr)
	var addrs struct {
		Cases []struct {
			Address string `json:"address"`
			Note    string `json:"note"`
		} `json:"cases"`
	}
	testvectors.Load(t, "ss58.json", &addrs)
	vector := func(uri string) (seed, ss58 string) {
		for _, k := range sr.Keys {
			if k.URI != nil && *k.URI == uri {
				return k.MiniSecretHex, k.SS58
			}
		}
		for _, c := range addrs.Cases {
			if strings.HasPrefix(c.Note, uri+" sr25519 dev key, prefix 42") {
				return "", c.Address
			}
		}
		t.Fatalf("no vector for %s", uri)
		return "", ""
	}
	for _, id := range []Identity{Alice, Bob, Dave} {
		t.Run(strings.TrimPrefix(id.URI, "//"), func(t *testing.T) {
			seed, ss58 := vector(id.URI)
			if seed != "" && id.SeedHex != seed {
				t.Errorf("seed: got %s, want %s", id.SeedHex, seed)
			}
			if id.SS58 != ss58 {
				t.Errorf("SS58: got %s, want %s", id.SS58, ss58)
			}
			if got := Seeded(id.Seed()).SS58; got != id.SS58 {
				t.Errorf("the seed's address: got %s, want %s", got, id.SS58)
			}
			if got := id.Keypair(t).Public(); got != id.Public() {
				t.Errorf("the keypair's public key %x is not the address's %x", got, id.Public())
			}
		})
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("FIBERGATE_UPSTREAM_URL", "http://127.0.0.1:1")
	t.Setenv("E2ETEST_KEPT", "yes")
	env := Env("FIBERGATE_STORAGE_KEY=k")
	for _, kv := range env {
		if strings.HasPrefix(kv, "FIBERGATE_UPSTREAM_URL=") {
			t.Errorf("Env kept %s", kv)
		}
	}
	for _, want := range []string{"E2ETEST_KEPT=yes", "FIBERGATE_STORAGE_KEY=k"} {
		if !slices.Contains(env, want) {
			t.Errorf("Env lacks %s", want)
		}
	}
}

func TestMetric(t *testing.T) {
	const exp = `# HELP fibergate_handshakes_total Key exchanges.
# TYPE fibergate_handshakes_total counter
fibergate_handshakes_total{result="ok"} 4
fibergate_handshakes_total{result="ok_later"} 9
fibergate_nonce_guard_lost_total 1e+00
`
	for _, c := range []struct {
		series string
		want   float64
		ok     bool
	}{
		{`fibergate_handshakes_total{result="ok"}`, 4, true},
		{`fibergate_nonce_guard_lost_total`, 1, true},
		{`fibergate_handshakes_total{result="bad"}`, 0, false},
		{`fibergate_handshakes_total`, 0, false},
	} {
		if v, ok := Metric(t, exp, c.series); v != c.want || ok != c.ok {
			t.Errorf("%s: got %v %v, want %v %v", c.series, v, ok, c.want, c.ok)
		}
	}
}

// TestProcess runs a real program: its output is kept, a wait for it
// returns, a signal reaches it and its exit code is read.
func TestProcess(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	p := Start(t, "sh", exec.Command(sh, "-c", `trap 'echo bye >&2; exit 3' TERM; echo ready; while :; do sleep 0.05; done`))
	if out := p.WaitStdout(t, "ready", StartTimeout); out != "ready\n" {
		t.Errorf("stdout: got %q", out)
	}
	if p.Exited() {
		t.Fatal("exited before the signal")
	}
	p.Signal(t, syscall.SIGTERM)
	if code := p.WaitExit(t, ExitTimeout); code != 3 {
		t.Errorf("exit code: got %d, want 3", code)
	}
	if got := p.Stderr.String(); got != "bye\n" {
		t.Errorf("stderr: got %q", got)
	}
}

// TestDemoAppAndFreeAddr: the demo app answers on loopback; a free
// address has nothing listening.
func TestDemoAppAndFreeAddr(t *testing.T) {
	app := DemoApp(t)
	if !strings.HasPrefix(app, "http://127.0.0.1:") {
		t.Errorf("demo app at %s, want loopback", app)
	}
	if status, body := Get(app + "/healthcheck"); status != http.StatusOK || body != `{"status":"ok"}` {
		t.Errorf("/healthcheck: got %d %q", status, body)
	}
	addr := FreeAddr(t)
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("something listens on the free address %s", addr)
	}
	// Below the ephemeral range, so no listener on port 0 takes it.
	_, port, _ := net.SplitHostPort(addr)
	if lo, hi := quietPorts(); hi-lo >= 1000 {
		if n, _ := strconv.Atoi(port); n < lo || n >= hi {
			t.Errorf("free port %d, want one in [%d, %d)", n, lo, hi)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("binding the free address %s: %v", addr, err)
	}
	ln.Close()
}
