//go:build unix

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/config"
	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/internal/e2etest"
)

// The binary, the processes, their waits, the dev identities (//Alice
// validates, //Bob mines) and the clients come from internal/e2etest; this
// file holds what only these tests use: short commands run to completion,
// the config they write, the client command's flags.

func TestMain(m *testing.M) {
	os.Exit(e2etest.Main(m))
}

// TestEnvLeavesOutConfig: what e2etest.Env leaves out of the processes'
// environment is every variable config reads.
func TestEnvLeavesOutConfig(t *testing.T) {
	t.Setenv(config.EnvPrefix+"LISTEN", "127.0.0.1:1")
	for _, kv := range e2etest.Env() {
		if strings.HasPrefix(kv, config.EnvPrefix) {
			t.Errorf("e2etest.Env kept %s", kv)
		}
	}
}

// startWrapped starts the binary as e2etest.StartFibergate does, through
// the command wrap (e.g. a shell that lowers a limit and execs it): wrap
// is run with the binary and args appended.
func startWrapped(t *testing.T, dir string, env []string, wrap []string, args ...string) *e2etest.Process {
	t.Helper()
	cmd := exec.Command(wrap[0], append(append(wrap[1:], e2etest.Bin()), args...)...)
	cmd.Dir = dir
	cmd.Env = env
	return e2etest.Start(t, "fibergate "+strings.Join(args, " "), cmd)
}

// writeRSAKey writes a fresh 2048-bit handshake key to dir/handshake.pem
// and returns its path.
func writeRSAKey(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "handshake.pem")
	k, err := rsakey.Generate(2048, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsakey.WriteFile(path, k, rsakey.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return path
}

// result is how a short command ended.
type result struct {
	code           int
	stdout, stderr string
}

// runFibergate runs the binary to completion, within e2etest.IOTimeout.
func runFibergate(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2etest.IOTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e2etest.Bin(), args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("fibergate %s: still running after %v", strings.Join(args, " "), e2etest.IOTimeout)
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("running fibergate %s: %v", strings.Join(args, " "), err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// metricValue finds the sample named series (name and labels as exposed)
// in a Prometheus text exposition.
func metricValue(t *testing.T, exposition, series string) float64 {
	t.Helper()
	v, ok := e2etest.Metric(t, exposition, series)
	if !ok {
		t.Fatalf("metric %s not exposed", series)
	}
	return v
}

// testConfig is what a test sets in the config it writes; the rest is
// fixed: listen on 127.0.0.1:0, admin_listen on a free loopback port,
// //Bob as the miner.
type testConfig struct {
	upstreamURL   string // required
	nodesFile     string // validators.nodes_file; empty lists //Alice statically
	nodesPoll     string // validators.nodes_file_poll
	rsaKeyFile    string
	persistFile   string
	persistEvery  string // keystore.persist_interval
	listen        string // default 127.0.0.1:0
	shutdownGrace string // default 10s
	minStake      string // validators.min_stake; default 1000
	signedRoute   bool   // add a route /signed/* in mode signed
	extra         string // more top-level YAML, appended as it is
}

// write writes c as dir/config.yaml and returns its path.
func (c testConfig) write(t *testing.T, dir string) string {
	t.Helper()
	listen := c.listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	grace := c.shutdownGrace
	if grace == "" {
		grace = "10s"
	}
	var b strings.Builder
	// admin_listen cannot be 127.0.0.1:0 as well: config refuses an
	// admin_listen equal to listen, even when both ask for any free port.
	fmt.Fprintf(&b, "listen: %q\nadmin_listen: %q\n", listen, e2etest.FreeAddr(t))
	fmt.Fprintf(&b, "upstream:\n  url: %q\n  timeout: 20s\n", c.upstreamURL)
	fmt.Fprintf(&b, "miner:\n  hotkey: %q\n", e2etest.Bob.SS58)
	fmt.Fprintf(&b, "handshake:\n  rsa_key_file: %q\n", c.rsaKeyFile)
	minStake := c.minStake
	if minStake == "" {
		minStake = "1000"
	}
	fmt.Fprintf(&b, "validators:\n  min_stake: %s\n", minStake)
	if c.nodesFile == "" {
		fmt.Fprintf(&b, "  static:\n    - {hotkey: %q, stake: 5000}\n", e2etest.Alice.SS58)
	} else {
		fmt.Fprintf(&b, "  nodes_file: %q\n", c.nodesFile)
		if c.nodesPoll != "" {
			fmt.Fprintf(&b, "  nodes_file_poll: %s\n", c.nodesPoll)
		}
	}
	fmt.Fprintf(&b, "keystore:\n  persist_file: %q\n", c.persistFile)
	if c.persistEvery != "" {
		fmt.Fprintf(&b, "  persist_interval: %s\n", c.persistEvery)
	}
	b.WriteString("routes:\n  - {path: \"/stream/*\", mode: encrypted, response: encrypted}\n")
	if c.signedRoute {
		b.WriteString("  - {path: \"/signed/*\", mode: signed}\n")
	}
	fmt.Fprintf(&b, "shutdown_grace: %s\n", grace)
	b.WriteString(c.extra)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clientArgs are the flags `fibergate client` needs to talk to addr as
// //Alice.
func clientArgs(action, addr string, more ...string) []string {
	return append([]string{"client", action, "--url", "http://" + addr, "--miner", e2etest.Bob.SS58, "--seed", e2etest.Alice.SeedHex}, more...)
}

// shellWords splits a command line of plain words and single-quoted
// strings, the only shell syntax the quick-start hint uses. Anything else
// is an error rather than a silent misreading.
func shellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\'':
			quoted = false
		case quoted:
			cur.WriteByte(c)
		case c == '\'':
			quoted, inWord = true, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case strings.IndexByte("\"\\$`|&;<>(){}*?!~#", c) >= 0:
			return nil, fmt.Errorf("shell syntax %q at %d not understood", c, i)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
