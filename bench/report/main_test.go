package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/loadgen"
)

func TestInterpolate(t *testing.T) {
	s := [][5]float64{{10, 100, 0, 0, -1}, {11, 200, 0, 0, -1}, {13, 200, 0, 0, -1}}
	tests := []struct {
		at     float64
		want   float64
		wantOK bool
	}{
		{10, 100, true},
		{10.25, 125, true},
		{11, 200, true},
		{12, 200, true},
		{13, 200, true},
		{9.9, 0, false},
		{13.1, 0, false},
	}
	for _, tc := range tests {
		got, ok := interpolate(s, 1, tc.at)
		if ok != tc.wantOK || got != tc.want {
			t.Errorf("at %v: got %v, %v; want %v, %v", tc.at, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestSpread(t *testing.T) {
	tests := []struct {
		in            []float64
		med, min, max float64
		text          string
	}{
		{[]float64{3, 1, 2}, 2, 1, 3, "2.0 [1.0–3.0]"},
		{[]float64{4, 1, 2, 3}, 2.5, 1, 4, "2.5 [1.0–4.0]"},
		{[]float64{7}, 7, 7, 7, "7.0"},
	}
	for _, tc := range tests {
		s := spreadOf(tc.in)
		if s.med != tc.med || s.min != tc.min || s.max != tc.max || s.text(1) != tc.text {
			t.Errorf("%v: got %+v %q, want median %v [%v–%v] %q", tc.in, s, s.text(1), tc.med, tc.min, tc.max, tc.text)
		}
	}
	if got := spreadOf([]float64{12345.6, 1000}).text(0); got != "6,673 [1,000–12,346]" {
		t.Errorf("thousands: got %q", got)
	}
}

func TestParseWrk(t *testing.T) {
	out := `Running 10s test @ http://127.0.0.1:28901/echo
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.42ms    2.01ms  40.12ms   91.00%
    Req/Sec    24.01k     2.10k   30.00k    70.00%
  Latency Distribution
     50%  808.00us
     75%    1.50ms
     90%    3.10ms
     99%   10.50ms
  478123 requests in 10.00s, 150.00MB read
Requests/sec:  47812.30
Transfer/sec:     15.00MB
`
	rps, p99 := parseWrk(out)
	if rps != 47812.30 || p99 != 10.5 {
		t.Errorf("got %v req/s, p99 %v ms; want 47812.30, 10.5", rps, p99)
	}
	if _, p99 := parseWrk(strings.Replace(out, "10.50ms", "900.00us", 1)); p99 != 0.9 {
		t.Errorf("p99 in µs: got %v ms, want 0.9", p99)
	}
}

// writeRun writes one run's files as bench/run.sh does: the target did
// ops operations at ops/elapsed per second, its server process used
// serverTicks during the measured phase (and 50 more during setup), and its
// threads switched context switchesPerOp times a request.
func writeRun(t *testing.T, dir, target string, size, rep int, ops int64, elapsed float64, serverTicks int, switchesPerOp float64) {
	t.Helper()
	id := fmt.Sprintf("%d-%s-%d", rep, target, size)
	const start, setup = 1000.0, 2.0
	m := meta{ID: id, Target: target, Size: size, Rep: rep, Start: start, Load1: 0.5}
	res := loadgen.Result{Mode: loadgen.ModeRequests, ElapsedSeconds: elapsed, Ops: ops, OK: ops, OpsPerSec: float64(ops) / elapsed,
		Latency: loadgen.Latency{P99: time.Duration(rep) * time.Millisecond}, Setup: loadgen.Setup{Seconds: setup}}
	for name, v := range map[string]any{id + ".meta.json": m, id + ".json": res} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Samples: 50 ticks by the start of the phase, serverTicks more by its
	// end, then idle; the app and generator use half and a quarter of it.
	var cpu strings.Builder
	for _, s := range [][2]float64{{start, 0}, {start + setup, 50}, {start + setup + elapsed, float64(50 + serverTicks)}, {start + setup + elapsed + 1, float64(50 + serverTicks)}} {
		fmt.Fprintf(&cpu, "%.3f %v %v %v\n", s[0], s[1], s[1]/2, s[1]/4)
	}
	if err := os.WriteFile(filepath.Join(dir, id+".cpu"), []byte(cpu.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// Switches, sampled once a second: 1,000 during setup, then the run's.
	var ctx strings.Builder
	sw := switchesPerOp * float64(ops)
	for _, s := range [][2]float64{{start, 0}, {start + 1, 500}, {start + setup, 1000}, {start + setup + elapsed/2, 1000 + sw/2}, {start + setup + elapsed, 1000 + sw}} {
		fmt.Fprintf(&ctx, "%.3f %v %v %v\n", s[0], s[1], s[1], s[1])
	}
	if err := os.WriteFile(filepath.Join(dir, id+".ctx"), []byte(ctx.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReport builds a results directory and checks the figures the table
// is made of: medians, ratios, CPU per operation and the verdicts.
func TestReport(t *testing.T) {
	dir := t.TempDir()
	machine := `{"date": "today", "cpu": "Test CPU", "nproc": 2, "clk_tck": 100, "duration": "10s", "reps": 3, "concurrency": 64, "go": "go1", "nginx": "", "wrk": ""}`
	if err := os.WriteFile(filepath.Join(dir, "machine.json"), []byte(machine), 0o644); err != nil {
		t.Fatal(err)
	}
	for rep := 1; rep <= 3; rep++ {
		// (b): 40,000/s, 20 µs a request. (d): 20,000/s (0.50 of b), 50 µs
		// a request; rep 3 is slow (16,000/s).
		writeRun(t, dir, "b", 256, rep, 400_000, 10, 800, 1)
		ops := int64(200_000)
		if rep == 3 {
			ops = 160_000
		}
		writeRun(t, dir, "d", 256, rep, ops, 10, int(ops*50/10_000), 2.5)
		// (e): 15,000/s (0.375 of b), 70 µs a request.
		writeRun(t, dir, "e", 256, rep, 150_000, 10, 150_000*70/10_000, 3)
		// (g): 25,000/s, so (d) is 0.80 of it; (i): 21,000/s, (d) 0.95.
		writeRun(t, dir, "g", 256, rep, 250_000, 10, 250_000*40/10_000, 1)
		writeRun(t, dir, "i", 256, rep, 210_000, 10, 210_000*45/10_000, 1.5)
	}
	var out strings.Builder
	if err := report(&out, dir); err != nil {
		t.Fatal(err)
	}
	// Column widths are tabwriter's business: compare words.
	squash := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	text := squash(out.String())
	for _, want := range []string{
		"machine: 2 × Test CPU",
		"(b) plain fasthttp proxy      256   40,000 [40,000–40,000]",
		"20,000 [16,000–20,000]  -     0.50  0.80  0.95  2.00 [1.00–3.00]  50.0 [50.0–50.0]  2.5 [2.5–2.5]  25.0 [25.0–25.0]  12.5 [12.5–12.5]",
		"(g) minimal proxy + 1 verify  256  25,000 [25,000–25,000]  -  0.62  1.00  1.19",
		"(d) 256 B ≥ 0.85 of (g), minimal proxy + 1 verify          MISSED  0.80 (per repetition 0.64–0.80)",
		"(d) 256 B ≥ 0.95 of (i), plain proxy + 1 verify            met     0.95 (per repetition 0.76–0.95)",
		"(d) 256 B ≥ 0.45 of (b)                                    met     0.50 (per repetition 0.40–0.50)",
		"(e) 256 B ≥ 0.40 of (b)                                    MISSED  0.38",
		"(e) 4 KiB ≥ 0.40 of (b)                                    not measured",
		"fibergate CPU per small request (d 256 B) ≤ 60 µs          met     50.0 [50.0–50.0] µs",
		"fibergate CPU per small request (e 256 B) ≤ 60 µs          MISSED  70.0 [70.0–70.0] µs",
		"p99 at half of (d)'s peak < 5 ms                           not measured",
	} {
		if !strings.Contains(text, squash(want)) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
}

// TestReportChains: the egress chain's row holds egress's and serve's CPU
// per request apart, its ratio to the direct target, and the verdicts.
func TestReportChains(t *testing.T) {
	dir := t.TempDir()
	machine := `{"date": "today", "cpu": "Test CPU", "nproc": 2, "clk_tck": 100, "duration": "10s", "reps": 1, "concurrency": 64, "go": "go1"}`
	if err := os.WriteFile(filepath.Join(dir, "machine.json"), []byte(machine), 0o644); err != nil {
		t.Fatal(err)
	}
	// (d): 20,000/s, serve 50 µs a request.
	writeRun(t, dir, "d", 256, 1, 200_000, 10, 200_000*50/10_000, 2)
	// (j): 12,000/s (0.60 of d); serve 60 µs, egress 45 µs a request.
	writeRun(t, dir, "j", 256, 1, 120_000, 10, 120_000*60/10_000, 2)
	// Add egress's ticks as a fifth column: 45 µs × 120,000 = 540 ticks at 100/s.
	path := filepath.Join(dir, "1-j-256.cpu")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		egress := []float64{0, 10, 550, 550}[i]
		fmt.Fprintf(&out, "%s %v\n", line, egress)
	}
	os.WriteFile(path, []byte(out.String()), 0o644)
	var rep strings.Builder
	if err := report(&rep, dir); err != nil {
		t.Fatal(err)
	}
	squash := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	text := squash(rep.String())
	for _, want := range []string{
		"(j) plain → egress → (d) 256 12,000 0.60 1.00 45.0 60.0 50.0",
		"(j) 256 B ≥ 0.50 of (d) met 0.60",
		"egress CPU/req ≤ serve's behind it, (j) 256 B met 0.75 ×",
		"(k) 256 B ≥ 0.50 of (e) not measured",
	} {
		if !strings.Contains(text, squash(want)) {
			t.Errorf("the report lacks %q:\n%s", want, rep.String())
		}
	}
}
