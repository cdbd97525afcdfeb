//go:build unix

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fibergate/fibergate/internal/e2etest"
	"github.com/fibergate/fibergate/loadgen"
	"github.com/fibergate/fibergate/validators"
)

func TestBenchNodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := runFibergate(t, dir, e2etest.Env(), "bench", "nodes", "--validators", "3", "--stake", "2000", "--out", "nodes.json")
	if r.code != 0 || !strings.Contains(r.stdout, "wrote 3 validators with stake 2000 to nodes.json") {
		t.Fatalf("bench nodes: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	path := filepath.Join(dir, "nodes.json")
	reg, err := validators.New(validators.Options{NodesFile: path})
	if err != nil {
		t.Fatalf("loading the nodes file: %v", err)
	}
	if got := reg.Current().Len(); got != 3 {
		t.Errorf("the nodes file lists %d validators, want 3", got)
	}
	for i := range 3 {
		kp, err := loadgen.ValidatorKey(loadgen.DefaultSeedPrefix, i)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := reg.Current().Lookup(kp.Public()); !ok || v.Stake != 2000 {
			t.Errorf("validator %d: got %+v, %v; want it listed with stake 2000", i, v, ok)
		}
	}

	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r = runFibergate(t, dir, e2etest.Env(), "bench", "nodes", "--validators", "3", "--stake", "2000", "--out", "-")
	if r.code != 0 || r.stdout != string(file) {
		t.Errorf("bench nodes --out -: exit %d, stdout %q; want the file's content", r.code, r.stdout)
	}
}

// benchJSON runs a bench command with --json and decodes its result.
func benchJSON(t *testing.T, dir string, wantCode int, args ...string) *loadgen.Result {
	t.Helper()
	r := runFibergate(t, dir, e2etest.Env(), append(args, "--json")...)
	if r.code != wantCode {
		t.Fatalf("fibergate %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, wantCode, r.stdout, r.stderr)
	}
	var res loadgen.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("fibergate %s: stdout is not a result: %v\n%s", strings.Join(args, " "), err, r.stdout)
	}
	return &res
}

// TestBenchAgainstServe runs every bench mode against the binary's own
// sidecar, whose validators come from a `bench nodes` file. It is not
// parallel, so the rates it checks are not disturbed by other tests.
func TestBenchAgainstServe(t *testing.T) {
	dir := t.TempDir()
	if r := runFibergate(t, dir, e2etest.Env(), "bench", "nodes", "--validators", "4", "--out", "nodes.json"); r.code != 0 {
		t.Fatalf("bench nodes: exit %d, stderr %q", r.code, r.stderr)
	}
	appURL := "http://" + e2etest.FreeAddr(t)
	cfg := testConfig{upstreamURL: appURL, nodesFile: filepath.Join(dir, "nodes.json")}.write(t, dir)
	p := e2etest.StartFibergate(t, dir, e2etest.Env(), "serve", "--config", cfg, "--demo-upstream")
	addr, _ := p.WaitReady(t)
	target := []string{"--url", "http://" + addr, "--miner", e2etest.Bob.SS58, "--validators", "4"}
	bench := func(action string, more ...string) []string {
		return append(append([]string{"bench", action}, target...), more...)
	}

	t.Run("requests", func(t *testing.T) {
		res := benchJSON(t, dir, 0, bench("run", "--concurrency", "16", "--rate", "40", "--duration", "1s",
			"--size", "512", "--encrypted-response", "--check-echo")...)
		if res.Mode != loadgen.ModeRequests || res.Ops+res.Dropped != 40 || res.Ops == 0 || res.Errors != 0 || res.Statuses[200] != res.Ops {
			t.Errorf("got %s: %d ok of %d, %d dropped, statuses %v, codes %v; want 40 requests answered 200",
				res.Mode, res.OK, res.Ops, res.Dropped, res.Statuses, res.Codes)
		}
		if res.Setup.Handshakes != 4 {
			t.Errorf("setup handshakes: got %d, want 4", res.Setup.Handshakes)
		}
	})
	t.Run("plain to the app", func(t *testing.T) {
		// No --miner: plain requests carry no Fiber header.
		res := benchJSON(t, dir, 0, "bench", "run", "--plain", "--url", appURL, "--concurrency", "8", "--rate", "40",
			"--duration", "1s", "--size", "512", "--check-echo")
		if res.Mode != loadgen.ModePlain || res.Ops+res.Dropped != 40 || res.Ops == 0 || res.Errors != 0 || res.Statuses[200] != res.Ops {
			t.Errorf("got %s: %d ok of %d, %d dropped, statuses %v, codes %v; want 40 plain requests answered 200",
				res.Mode, res.OK, res.Ops, res.Dropped, res.Statuses, res.Codes)
		}
		if res.Setup.Handshakes != 0 {
			t.Errorf("setup handshakes: got %d, want none", res.Setup.Handshakes)
		}
	})
	t.Run("plain to fibergate", func(t *testing.T) {
		// fibergate refuses them all, and bench run says so with exit 1.
		res := benchJSON(t, dir, 1, bench("run", "--plain", "--concurrency", "4", "--rate", "20", "--duration", "500ms")...)
		if res.Ops != 10 || res.OK != 0 || res.Codes["missing_header"] != 10 {
			t.Errorf("got %d ok of %d, statuses %v, codes %v; want 10 refused with missing_header", res.OK, res.Ops, res.Statuses, res.Codes)
		}
	})
	t.Run("handshakes", func(t *testing.T) {
		res := benchJSON(t, dir, 0, bench("run", "--handshakes-only", "--concurrency", "4", "--rate", "8", "--duration", "1s")...)
		if res.Mode != loadgen.ModeHandshakes || res.Ops+res.Dropped != 8 || res.Ops == 0 || res.Errors != 0 || res.HandshakesPerSec <= 0 {
			t.Errorf("got %s: %d ok of %d, %d dropped, codes %v, %.1f/s; want 8 handshakes",
				res.Mode, res.OK, res.Ops, res.Dropped, res.Codes, res.HandshakesPerSec)
		}
	})
	t.Run("flood", func(t *testing.T) {
		kinds := loadgen.FloodKinds()
		res := benchJSON(t, dir, 0, bench("flood", "--concurrency", "8", "--rate", "28", "--duration", "1s")...)
		if res.Flood == nil || res.Flood.Failures != 0 || res.Ops == 0 {
			t.Fatalf("got %+v; want a flood with no failures", res.Flood)
		}
		for _, k := range kinds[:len(kinds)/2] { // 28 in 1 s: each kind at least once
			if got := res.Flood.Kinds[k.Name]; got[k.Want] == 0 || len(got) != 1 {
				t.Errorf("kind %s: got %v, want only %q", k.Name, got, k.Want)
			}
		}
	})
	t.Run("text", func(t *testing.T) {
		r := runFibergate(t, dir, e2etest.Env(), bench("run", "--concurrency", "8", "--rate", "20", "--duration", "500ms")...)
		if r.code != 0 {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		for _, want := range []string{"fibergate bench: requests, fixed rate 20.0/s, 4 validators, 8 workers", "  requests    10 in ", "p99.9 ", "  statuses    200: 10\n", "  codes       -\n"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
			}
		}
	})
	t.Run("unlisted validators", func(t *testing.T) {
		args := append(bench("run", "--rate", "10", "--duration", "1s"), "--validators", "6")
		r := runFibergate(t, dir, e2etest.Env(), args...)
		if r.code != 1 || !strings.Contains(r.stderr, "unknown_validator") || !strings.Contains(r.stderr, "bench nodes") {
			t.Errorf("exit %d, stderr %q; want 1 and the refusal with its remedy", r.code, r.stderr)
		}
	})
	if p.Exited() {
		t.Error("fibergate exited during the benchmarks")
	}
}

func TestBenchUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		stdout   []string
		stderr   []string
	}{
		{"listed in --help", []string{"--help"}, 0, []string{"bench", "load generator"}, nil},
		{"bench alone", []string{"bench"}, 2, nil, []string{"Usage: fibergate bench nodes|run|flood", `sha256("<seed-prefix><i>")`}},
		{"bench --help", []string{"bench", "--help"}, 0, nil, []string{"Usage: fibergate bench"}},
		{"unknown action", []string{"bench", "dance"}, 2, nil, []string{`unknown action "dance"`}},
		{"run --help", []string{"bench", "run", "--help"}, 0, nil,
			[]string{"-url", "-miner", "-validators", "-concurrency", "-duration", "-rate", "-path", "-size", "-encrypted-response", "-handshakes-only", "-plain", "-json"}},
		{"flood --help", []string{"bench", "flood", "--help"}, 0, nil, []string{"-rate", "-max-body", "-duration"}},
		{"run without --miner", []string{"bench", "run"}, 2, nil, []string{"--miner is required"}},
		{"plain with encrypted responses", []string{"bench", "run", "--plain", "--encrypted-response"}, 1, nil, []string{"Plain excludes"}},
		{"nodes without --out", []string{"bench", "nodes"}, 2, nil, []string{"--out is required"}},
		{"bad flag value", []string{"bench", "run", "--miner", e2etest.Bob.SS58, "--rate", "fast"}, 2, nil, []string{"-rate"}},
		{"bad options", []string{"bench", "run", "--miner", e2etest.Bob.SS58, "--path", "echo"}, 1, nil, []string{"Path"}},
		{"stray argument", []string{"bench", "nodes", "--out", "x", "extra"}, 2, nil, []string{`unexpected argument "extra"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runFibergate(t, dir, e2etest.Env(), tc.args...)
			if r.code != tc.wantCode {
				t.Errorf("fibergate %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), r.code, tc.wantCode, r.stdout, r.stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("fibergate %s: stdout lacks %q:\n%s", strings.Join(tc.args, " "), s, r.stdout)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("fibergate %s: stderr lacks %q:\n%s", strings.Join(tc.args, " "), s, r.stderr)
				}
			}
		})
	}
}
