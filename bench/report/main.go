// Command report prints the comparison table of bench/run.sh from the
// files a run leaves in its results directory, so the table can be
// recomputed (or computed differently) after the fact:
//
//	machine.json           the machine and the settings of the run
//	<id>.meta.json         one per measured run: target, size, repetition,
//	                       start time, load average, exit status
//	<id>.json              that run's `fibergate bench run --json` result
//	<id>.cpu               CPU samples taken during it, one a line:
//	                       "<unix time> <server ticks> <app ticks> <generator ticks>",
//	                       and for the egress chains (j, k) "<egress ticks>" last
//	<id>.ctx               context switch samples, once a second, the same way:
//	                       "<unix time> <server> <app> <generator>"
//	<id>.wrk.txt           wrk's output, for the optional wrk table
//
// Each figure is the median over repetitions with its spread [min–max].
// CPU per operation is the CPU time the process used during the measured
// phase (read from the samples by interpolating at the phase's start and
// end, which the result gives relative to the run's start) divided by the
// operations completed in it. It is a measurement tool, not part of
// fibergate.
//
//	report -dir /tmp/fibergate-bench.XXXX
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/fibergate/fibergate/loadgen"
)

func main() {
	dir := flag.String("dir", "", "the results directory of bench/run.sh (required)")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "report: -dir is required")
		os.Exit(2)
	}
	if err := report(os.Stdout, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

// machine is machine.json: what ran where.
type machine struct {
	Date        string `json:"date"`
	CPU         string `json:"cpu"`
	Nproc       int    `json:"nproc"`
	ClkTck      int    `json:"clk_tck"`
	Duration    string `json:"duration"`
	Reps        int    `json:"reps"`
	Concurrency int    `json:"concurrency"`
	Go          string `json:"go"`
	Nginx       string `json:"nginx"`
	Wrk         string `json:"wrk"`
	// Commit is the measured tree's `git describe --always --dirty`.
	Commit string `json:"commit"`
}

// meta is <id>.meta.json: one measured run.
type meta struct {
	ID     string  `json:"id"`
	Target string  `json:"target"`
	Size   int     `json:"size"`
	Rep    int     `json:"rep"`
	Start  float64 `json:"start_unix"`
	Load1  float64 `json:"load1"`
	Rate   float64 `json:"rate"`
	Exit   int     `json:"exit"`
}

// run is one measured run with what was derived from it.
type run struct {
	meta
	res *loadgen.Result
	// okPerSec counts only answers that passed every check.
	okPerSec float64
	// CPU microseconds per operation of the measured phase; negative when
	// unknown.
	serverUS, appUS, genUS float64
	// egressUS is egress's CPU per request in the chains (j, k), -1
	// elsewhere; serverUS is then the fibergate serve behind it.
	egressUS float64
	// Context switches per operation of the measured phase, all threads of
	// the process under test; negative when unknown.
	serverCS         float64
	wrkRPS, wrkP99MS float64 // from wrk, 0 when not run
}

// targets names the targets of a run, in the table's order.
var targets = []struct{ key, name string }{
	{"a", "(a) echo app, direct"},
	{"b", "(b) plain fasthttp proxy"},
	{"c", "(c) nginx proxy_pass"},
	{"g", "(g) minimal proxy + 1 verify"},
	{"i", "(i) plain proxy (b) + 1 verify"},
	{"d", "(d) fibergate, plain answers"},
	{"e", "(e) fibergate, encrypted answers"},
	{"p", "(p) baseline fibergate, plain answers"},
	{"f", "(f) fibergate handshakes"},
	{"h", "(d) at half its peak, fixed rate"},
	{"j", "(j) plain → egress → (d)"},
	{"k", "(k) plain → egress → (e)"},
}

// chains are the egress chains and the direct target each is held to.
var chains = []struct{ key, direct string }{{"j", "d"}, {"k", "e"}}

func report(w io.Writer, dir string) error {
	var m machine
	if err := readJSON(filepath.Join(dir, "machine.json"), &m); err != nil {
		return err
	}
	if m.ClkTck <= 0 {
		return errors.New("machine.json: clk_tck missing")
	}
	metas, err := filepath.Glob(filepath.Join(dir, "*.meta.json"))
	if err != nil {
		return err
	}
	if len(metas) == 0 {
		return fmt.Errorf("no runs (*.meta.json) in %s", dir)
	}
	runs := map[string][]*run{} // by target/size
	var failed []string
	var loads []float64
	for _, path := range metas {
		r, err := load(path, m.ClkTck)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", filepath.Base(path), err))
			continue
		}
		loads = append(loads, r.Load1)
		k := key(r.Target, r.Size)
		runs[k] = append(runs[k], r)
	}

	fmt.Fprintf(w, "fibergate comparison, %s\n", m.Date)
	fmt.Fprintf(w, "machine: %d × %s; %s; %s; %s\n", m.Nproc, m.CPU, m.Go, orNone(m.Nginx, "no nginx"), orNone(m.Wrk, "no wrk"))
	if m.Commit != "" {
		fmt.Fprintf(w, "fibergate: %s\n", m.Commit)
	}
	fmt.Fprintf(w, "runs: %s each, %d repetitions interleaved, %d workers (closed loop unless said), every target started fresh\n",
		m.Duration, m.Reps, m.Concurrency)
	if len(loads) > 0 {
		s := spreadOf(loads)
		fmt.Fprintf(w, "1-minute load average at the start of each run: median %.2f [%.2f–%.2f]\n", s.med, s.min, s.max)
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tsize\treq/s median [min–max]\t÷(a)\t÷(b)\t÷(g)\t÷(i)\tp99 ms median [min–max]\tserver CPU µs/op\tserver switches/op\tapp CPU µs/op\tgen CPU µs/op\terrors\t")
	medians := map[string]float64{}
	for _, t := range targets {
		for _, size := range sizesOf(runs, t.key) {
			rs := runs[key(t.key, size)]
			rps := spreadOf(field(rs, func(r *run) float64 { return r.okPerSec }))
			medians[key(t.key, size)] = rps.med
		}
	}
	var notes []string
	for _, t := range targets {
		if t.key == "h" || t.key == "j" || t.key == "k" {
			continue
		}
		for _, size := range sizesOf(runs, t.key) {
			rs := runs[key(t.key, size)]
			rps := spreadOf(field(rs, func(r *run) float64 { return r.okPerSec }))
			p99 := spreadOf(field(rs, func(r *run) float64 { return ms(r.res.Latency.P99) }))
			sizeText := strconv.Itoa(size)
			if t.key == "f" {
				sizeText = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", t.name, sizeText,
				rps.text(0), ratio(rps.med, medians[key("a", size)], t.key), ratio(rps.med, medians[key("b", size)], t.key),
				ratio(rps.med, medians[key("g", size)], t.key), ratio(rps.med, medians[key("i", size)], t.key),
				p99.text(2), cpu(rs, func(r *run) float64 { return r.serverUS }),
				cpu(rs, func(r *run) float64 { return r.serverCS }),
				cpu(rs, func(r *run) float64 { return r.appUS }), cpu(rs, func(r *run) float64 { return r.genUS }),
				errorsOf(rs))
			notes = append(notes, warnings(t.name, size, rs)...)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "  req/s counts answers that passed every check (2xx, the echo of the request, decrypting when encrypted); for (f), handshakes/s.")
	fmt.Fprintln(w, "  ÷(a), ÷(b), ÷(g), ÷(i): the median's ratio to that of (a), (b), (g), (i) at the same size. server: the process under test")
	fmt.Fprintln(w, "  (for (a) the echo app, for (c) nginx's master and workers, for (f) per handshake); app: the echo app behind it; gen: the")
	fmt.Fprintln(w, "  load generator. switches: context switches of all the server's threads, voluntary and not, per request.")
	writeChains(w, runs, medians)

	if hs := runs[key("h", 256)]; len(hs) > 0 {
		fmt.Fprintln(w)
		rate := spreadOf(field(hs, func(r *run) float64 { return r.Rate }))
		got := spreadOf(field(hs, func(r *run) float64 { return r.okPerSec }))
		p50 := spreadOf(field(hs, func(r *run) float64 { return ms(r.res.Latency.P50) }))
		p99 := spreadOf(field(hs, func(r *run) float64 { return ms(r.res.Latency.P99) }))
		p999 := spreadOf(field(hs, func(r *run) float64 { return ms(r.res.Latency.P999) }))
		fmt.Fprintf(w, "(d) 256 B at half its median peak, fixed rate %s/s: got %s/s; p50 %s ms, p99 %s ms, p99.9 %s ms; fibergate CPU %s µs/req; %d errors\n",
			rate.text(0), got.text(0), p50.text(2), p99.text(2), p999.text(2), cpu(hs, func(r *run) float64 { return r.serverUS }), errorsOf(hs))
		notes = append(notes, warnings("(d) at half load", 256, hs)...)
	}

	writeWrk(w, runs)
	writeTargets(w, runs, medians)

	if len(notes) > 0 || len(failed) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range notes {
			fmt.Fprintln(w, "  "+n)
		}
		for _, f := range failed {
			fmt.Fprintln(w, "  run not counted: "+f)
		}
	}
	return nil
}

// load reads one run's files and derives its figures.
func load(metaPath string, clkTck int) (*run, error) {
	var r run
	if err := readJSON(metaPath, &r.meta); err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(metaPath, ".meta.json")
	var res loadgen.Result
	if err := readJSON(base+".json", &res); err != nil {
		return nil, fmt.Errorf("no result (exit %d): %w", r.Exit, err)
	}
	r.res = &res
	if res.ElapsedSeconds > 0 {
		r.okPerSec = float64(res.OK) / res.ElapsedSeconds
	}
	r.serverUS, r.appUS, r.genUS, r.egressUS = -1, -1, -1, -1
	if samples, err := readSamples(base + ".cpu"); err == nil && res.Ops > 0 {
		from := r.Start + res.Setup.Seconds
		to := from + res.ElapsedSeconds
		per := func(col int) float64 {
			a, okA := interpolate(samples, col, from)
			b, okB := interpolate(samples, col, to)
			if !okA || !okB {
				return -1
			}
			return (b - a) / float64(clkTck) * 1e6 / float64(res.Ops)
		}
		r.serverUS, r.appUS, r.genUS = per(1), per(2), per(3)
		if len(samples) > 0 && samples[0][4] >= 0 {
			r.egressUS = per(4)
		}
	}
	r.serverCS = -1
	if samples, err := readSamples(base + ".ctx"); err == nil && len(samples) > 1 && res.Ops > 0 {
		from := r.Start + res.Setup.Seconds
		to := from + res.ElapsedSeconds
		a, okA := interpolate(samples, 1, from)
		b, okB := interpolate(samples, 1, to)
		if okA && okB {
			r.serverCS = (b - a) / float64(res.Ops)
		}
	}
	if out, err := os.ReadFile(base + ".wrk.txt"); err == nil {
		r.wrkRPS, r.wrkP99MS = parseWrk(string(out))
	}
	return &r, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return nil
}

// readSamples reads a .cpu file: rows of numbers, the first a unix time;
// a fifth column (egress's ticks) is -1 where a row has four.
func readSamples(path string) ([][5]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][5]float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 4 && len(fs) != 5 {
			continue // a line cut short when the run ended
		}
		if len(out) > 0 && (len(fs) == 5) != (out[0][4] >= 0) {
			continue // one cut short of its fifth column
		}
		row := [5]float64{4: -1}
		ok := true
		for i, s := range fs {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				ok = false
				break
			}
			row[i] = v
		}
		if ok && (len(out) == 0 || row[0] > out[len(out)-1][0]) {
			out = append(out, row)
		}
	}
	return out, sc.Err()
}

// interpolate returns column col of the samples at time t, linearly
// between the samples around it; false when t is outside them.
func interpolate(s [][5]float64, col int, t float64) (float64, bool) {
	i := sort.Search(len(s), func(i int) bool { return s[i][0] >= t })
	switch {
	case i == len(s), i == 0 && s[0][0] > t:
		return 0, false
	case s[i][0] == t:
		return s[i][col], true
	}
	a, b := s[i-1], s[i]
	return a[col] + (b[col]-a[col])*(t-a[0])/(b[0]-a[0]), true
}

// wrkRPS and wrkP99 find wrk's throughput and 99th percentile (--latency).
var (
	wrkRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkP99 = regexp.MustCompile(`(?m)^\s*99%\s+([0-9.]+)(us|ms|s)\s*$`)
)

func parseWrk(out string) (rps, p99ms float64) {
	if m := wrkRPS.FindStringSubmatch(out); m != nil {
		rps, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := wrkP99.FindStringSubmatch(out); m != nil {
		v, _ := strconv.ParseFloat(m[1], 64)
		switch m[2] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		p99ms = v
	}
	return rps, p99ms
}

func writeWrk(w io.Writer, runs map[string][]*run) {
	header := false
	for _, t := range targets[:3] {
		for _, size := range sizesOf(runs, t.key) {
			var rs []*run
			for _, r := range runs[key(t.key, size)] {
				if r.wrkRPS > 0 {
					rs = append(rs, r)
				}
			}
			if len(rs) == 0 {
				continue
			}
			if !header {
				fmt.Fprintln(w, "\nfor reference, the same targets driven by wrk (-t2, the same connections and duration, one body of the size, no nonce):")
				header = true
			}
			rps := spreadOf(field(rs, func(r *run) float64 { return r.wrkRPS }))
			p99 := spreadOf(field(rs, func(r *run) float64 { return r.wrkP99MS }))
			fmt.Fprintf(w, "  %-28s %5d  %s req/s   p99 %s ms\n", t.name, size, rps.text(0), p99.text(2))
		}
	}
}

// writeTargets checks the figures against the targets of the issue.
func writeTargets(w io.Writer, runs map[string][]*run, medians map[string]float64) {
	fmt.Fprintln(w, "\ntargets:")
	var ratioTo func(name, target, base string, size int, want float64)
	ratioCheck := func(name, target string, size int, want float64) {
		ratioTo(name, target, "b", size, want)
	}
	ratioTo = func(name, target, base string, size int, want float64) {
		b := medians[key(base, size)]
		x := medians[key(target, size)]
		if b == 0 || x == 0 {
			fmt.Fprintf(w, "  %-58s not measured\n", name)
			return
		}
		// Per repetition too: runs of one repetition ran minutes apart at most.
		var per []float64
		for _, r := range runs[key(target, size)] {
			for _, rb := range runs[key(base, size)] {
				if rb.Rep == r.Rep && rb.okPerSec > 0 {
					per = append(per, r.okPerSec/rb.okPerSec)
				}
			}
		}
		s := spreadOf(per)
		fmt.Fprintf(w, "  %-58s %s  %.2f (per repetition %.2f–%.2f)\n", name, verdict(x/b >= want), x/b, s.min, s.max)
	}
	ratioCheck("(d) 256 B ≥ 0.45 of (b)", "d", 256, 0.45)
	ratioCheck("(e) 256 B ≥ 0.40 of (b)", "e", 256, 0.40)
	ratioCheck("(e) 4 KiB ≥ 0.40 of (b)", "e", 4096, 0.40)
	ratioTo("(d) 256 B ≥ 0.85 of (g), minimal proxy + 1 verify", "d", "g", 256, 0.85)
	ratioTo("(d) 256 B ≥ 0.95 of (i), plain proxy + 1 verify", "d", "i", 256, 0.95)
	if len(runs[key("p", 256)]) > 0 {
		ratioTo("(d) 256 B against the baseline binary (p)", "d", "p", 256, 0.95)
		ratioTo("(d) 4 KiB against the baseline binary (p)", "d", "p", 4096, 0.95)
	}
	cpuCheck := func(name string, rs []*run, limit float64) {
		s := spreadOf(field(rs, func(r *run) float64 { return r.serverUS }))
		if len(rs) == 0 || s.n == 0 {
			fmt.Fprintf(w, "  %-58s not measured\n", name)
			return
		}
		fmt.Fprintf(w, "  %-58s %s  %s µs\n", name, verdict(s.med <= limit), s.text(1))
	}
	cpuCheck("fibergate CPU per small request (d 256 B) ≤ 60 µs", runs[key("d", 256)], 60)
	cpuCheck("fibergate CPU per small request (e 256 B) ≤ 60 µs", runs[key("e", 256)], 60)
	if hs := runs[key("h", 256)]; len(hs) > 0 {
		s := spreadOf(field(hs, func(r *run) float64 { return ms(r.res.Latency.P99) }))
		fmt.Fprintf(w, "  %-58s %s  %s ms\n", "p99 at half of (d)'s peak < 5 ms", verdict(s.med < 5), s.text(2))
	} else {
		fmt.Fprintf(w, "  %-58s not measured\n", "p99 at half of (d)'s peak < 5 ms")
	}
	cpuCheck("fibergate CPU per handshake (f) < 1500 µs", runs[key("f", 0)], 1500)
	for _, c := range chains {
		for _, size := range []int{256, 4096} {
			ratioTo(fmt.Sprintf("(%s) %s ≥ 0.50 of (%s)", c.key, sizeName(size), c.direct), c.key, c.direct, size, 0.5)
		}
	}
	for _, c := range chains {
		for _, size := range []int{256, 4096} {
			name := fmt.Sprintf("egress CPU/req ≤ serve's behind it, (%s) %s", c.key, sizeName(size))
			rs := runs[key(c.key, size)]
			var per []float64
			for _, r := range rs {
				if r.egressUS >= 0 && r.serverUS > 0 {
					per = append(per, r.egressUS/r.serverUS)
				}
			}
			s := spreadOf(per)
			if s.n == 0 {
				fmt.Fprintf(w, "  %-58s not measured\n", name)
				continue
			}
			fmt.Fprintf(w, "  %-58s %s  %.2f × (per repetition %.2f–%.2f)\n", name, verdict(s.med <= 1), s.med, s.min, s.max)
		}
	}
}

func sizeName(size int) string {
	if size%1024 == 0 {
		return strconv.Itoa(size/1024) + " KiB"
	}
	return strconv.Itoa(size) + " B"
}

// writeChains writes the egress chains: the validator's code sending plain
// requests through egress to a fibergate serve, beside the load generator
// signing for itself against the same serve (same run, same app).
func writeChains(w io.Writer, runs map[string][]*run, medians map[string]float64) {
	header := false
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range chains {
		for _, size := range sizesOf(runs, c.key) {
			rs := runs[key(c.key, size)]
			if !header {
				fmt.Fprintln(w, "\negress chains: plain client → fibergate egress → fibergate serve → echo app, against the generator signing for itself → serve → echo app:")
				fmt.Fprintln(tw, "chain\tsize\treq/s median [min–max]\t÷direct\tp99 ms\tegress CPU µs/req\tserve CPU µs/req\tdirect serve CPU µs/req\tapp CPU µs/req\tgen CPU µs/req\terrors\t")
				header = true
			}
			rps := spreadOf(field(rs, func(r *run) float64 { return r.okPerSec }))
			p99 := spreadOf(field(rs, func(r *run) float64 { return ms(r.res.Latency.P99) }))
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", targetName(c.key), size, rps.text(0),
				ratio(rps.med, medians[key(c.direct, size)], c.key), p99.text(2),
				cpu(rs, func(r *run) float64 { return r.egressUS }), cpu(rs, func(r *run) float64 { return r.serverUS }),
				cpu(runs[key(c.direct, size)], func(r *run) float64 { return r.serverUS }),
				cpu(rs, func(r *run) float64 { return r.appUS }), cpu(rs, func(r *run) float64 { return r.genUS }), errorsOf(rs))
		}
	}
	tw.Flush()
	if header {
		fmt.Fprintln(w, "  ÷direct: the chain's median over that of the direct target (d or e) at the size. egress CPU and serve CPU are each")
		fmt.Fprintln(w, "  process's, per request of the chain; direct serve CPU is serve's per request in (d) or (e). (j) asks serve for plain")
		fmt.Fprintln(w, "  answers, (k) for encrypted ones (egress's default), which egress decrypts. req/s counts 2xx answers: egress sets")
		fmt.Fprintln(w, "  its own inner nonce, so the echo of the generator's is not checked.")
	}
}

func targetName(k string) string {
	for _, t := range targets {
		if t.key == k {
			return t.name
		}
	}
	return k
}

func verdict(ok bool) string {
	if ok {
		return "met   "
	}
	return "MISSED"
}

// warnings notes what makes a group's figures less trustworthy.
func warnings(name string, size int, rs []*run) []string {
	var out []string
	for _, r := range rs {
		res := r.res
		where := fmt.Sprintf("%s %d B, repetition %d", name, size, r.Rep)
		if res.Errors > 0 {
			out = append(out, fmt.Sprintf("%s: %d of %d failed (statuses %v, codes %v, no answer %v)", where, res.Errors, res.Ops, res.Statuses, res.Codes, res.Transport))
		}
		// Plain requests made during the run cost a nonce and a copy each:
		// only signing is worth a note.
		if res.Signing.DuringRun > 0 && res.Mode != loadgen.ModePlain {
			out = append(out, fmt.Sprintf("%s: the generator signed %d requests during the measured phase (its CPU is in gen CPU)", where, res.Signing.DuringRun))
		}
		if res.Signing.Waits > 0 {
			out = append(out, fmt.Sprintf("%s: workers waited %d times for the signer (the generator was the limit)", where, res.Signing.Waits))
		}
		if res.Dropped > 0 {
			out = append(out, fmt.Sprintf("%s: %d scheduled requests dropped", where, res.Dropped))
		}
		if r.Exit != 0 && res.Errors == 0 {
			out = append(out, fmt.Sprintf("%s: the generator exited %d", where, r.Exit))
		}
	}
	return out
}

// spread is the median and range of a set of figures.
type spread struct {
	n             int
	med, min, max float64
}

func spreadOf(xs []float64) spread {
	if len(xs) == 0 {
		return spread{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{n: len(s), med: med, min: s[0], max: s[len(s)-1]}
}

// text writes the median with its range, with decimals places; the
// range is left out for a single figure.
func (s spread) text(decimals int) string {
	if s.n == 0 {
		return "-"
	}
	f := func(v float64) string {
		if decimals == 0 {
			return thousands(int64(v + 0.5))
		}
		return strconv.FormatFloat(v, 'f', decimals, 64)
	}
	if s.n == 1 {
		return f(s.med)
	}
	return fmt.Sprintf("%s [%s–%s]", f(s.med), f(s.min), f(s.max))
}

// cpu writes the median of a CPU figure over the runs that have one.
func cpu(rs []*run, get func(*run) float64) string {
	var xs []float64
	for _, r := range rs {
		if v := get(r); v >= 0 {
			xs = append(xs, v)
		}
	}
	s := spreadOf(xs)
	if s.n == 0 {
		return "-"
	}
	if s.n == 1 {
		return strconv.FormatFloat(s.med, 'f', 1, 64)
	}
	return fmt.Sprintf("%.1f [%.1f–%.1f]", s.med, s.min, s.max)
}

func field(rs []*run, get func(*run) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = get(r)
	}
	return out
}

func ratio(x, base float64, target string) string {
	if base == 0 || x == 0 || target == "f" {
		return "-"
	}
	return strconv.FormatFloat(x/base, 'f', 2, 64)
}

func errorsOf(rs []*run) int64 {
	var n int64
	for _, r := range rs {
		n += r.res.Errors
	}
	return n
}

func key(target string, size int) string { return target + "/" + strconv.Itoa(size) }

// sizesOf lists the sizes measured for target, smallest first.
func sizesOf(runs map[string][]*run, target string) []int {
	var out []int
	for k, rs := range runs {
		if strings.HasPrefix(k, target+"/") && len(rs) > 0 {
			out = append(out, rs[0].Size)
		}
	}
	sort.Ints(out)
	return out
}

func ms(d interface{ Seconds() float64 }) float64 { return d.Seconds() * 1000 }

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
