package loadgen

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// WriteText writes r as one block of text for a terminal: what ran, the
// setup, throughput, latency percentiles, answers by status and error
// code, signing, and for a flood the answers by kind and the failures.
func (r *Result) WriteText(w io.Writer) error {
	b := bufio.NewWriter(w)
	loop := "closed loop"
	if r.Loop == LoopFixedRate {
		loop = "fixed rate " + num(r.Rate) + "/s"
	}
	who := fmt.Sprintf("%d validators, ", r.Validators)
	if r.Mode == ModePlain {
		who = ""
	}
	fmt.Fprintf(b, "fibergate bench: %s, %s, %s%d workers, %s against %s\n",
		r.Mode, loop, who, r.Concurrency, secs(r.ElapsedSeconds), r.Target)
	if r.Interrupted {
		fmt.Fprintf(b, "  interrupted before the end of the run\n")
	}
	setup := secs(r.Setup.Seconds)
	if r.Setup.Handshakes > 0 {
		setup += fmt.Sprintf("; %d handshakes (%s/s)", r.Setup.Handshakes, num(r.Setup.HandshakesPerSec))
	}
	if r.Setup.WarmupOps > 0 {
		setup += fmt.Sprintf("; warmup %s ops (%s/s)", count64(r.Setup.WarmupOps), num(r.Setup.EstimatedRate))
	}
	setup += fmt.Sprintf("; %s signed ahead in %s", count64(r.Signing.Ahead), secs(r.Signing.AheadSeconds))
	fmt.Fprintf(b, "  %-11s %s\n", "setup", setup)

	what := "requests"
	switch r.Mode {
	case ModeHandshakes:
		what = "handshakes"
	case ModeFlood:
		what = "sent"
	}
	line := fmt.Sprintf("%s in %s = %s/s   ok %s   errors %s", count64(r.Ops), secs(r.ElapsedSeconds),
		num(r.OpsPerSec), count64(r.OK), count64(r.Errors))
	if r.Loop == LoopFixedRate {
		line += "   dropped " + count64(r.Dropped)
	}
	fmt.Fprintf(b, "  %-11s %s\n", what, line)
	if r.Mode == ModeRequests {
		fmt.Fprintf(b, "  %-11s %d at setup = %s/s (one per validator)\n", "handshakes", r.Setup.Handshakes, num(r.Setup.HandshakesPerSec))
	}
	l := r.Latency
	fmt.Fprintf(b, "  %-11s p50 %s   p90 %s   p99 %s   p99.9 %s   (min %s, mean %s, max %s)\n", "latency",
		dur(l.P50), dur(l.P90), dur(l.P99), dur(l.P999), dur(l.Min), dur(l.Mean), dur(l.Max))

	statuses := make(map[string]int64, len(r.Statuses))
	for s, n := range r.Statuses {
		statuses[strconv.Itoa(s)] = n
	}
	fmt.Fprintf(b, "  %-11s %s\n", "statuses", counts(statuses))
	fmt.Fprintf(b, "  %-11s %s\n", "codes", counts(r.Codes))
	if r.Flood == nil {
		// Every operation that was not a clean 200, by status and code,
		// so a run with refusals cannot pass for a good one.
		fmt.Fprintf(b, "  %-11s %s\n", "not 200", counts(r.NotOK))
	}
	if len(r.Transport) > 0 {
		fmt.Fprintf(b, "  %-11s %s\n", "no answer", counts(r.Transport))
	}
	sg := r.Signing
	fmt.Fprintf(b, "  %-11s %s during the run, %s expired unused, %s waits for the signer\n", "signing",
		count64(sg.DuringRun), count64(sg.Expired), count64(sg.Waits))

	if f := r.Flood; f != nil {
		fmt.Fprintf(b, "  %-24s %s\n", "kind", "answers")
		for _, k := range floodKinds {
			if m := f.Kinds[k.Name]; len(m) > 0 {
				fmt.Fprintf(b, "  %-24s %s\n", k.Name, counts(m))
			}
		}
		fmt.Fprintf(b, "  %-11s %s (5xx, no answer, or a bad request accepted); %d exchanges to replay, %d failed\n",
			"failures", count64(f.Failures), f.Exchanges, f.ExchangeErrors)
		if len(f.FailureAnswers) > 0 {
			fmt.Fprintf(b, "  %-11s %s\n", "", counts(f.FailureAnswers))
		}
	}
	return b.Flush()
}

// counts writes m as "k: n, k: n", largest first, or "-" when empty.
func counts(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + count64(m[k])
	}
	return strings.Join(parts, ", ")
}

// count64 writes n with thousands separators.
func count64(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// num writes a rate: one decimal below 100, whole numbers with separators
// above.
func num(f float64) string {
	if f < 100 {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	return count64(int64(f + 0.5))
}

func secs(s float64) string { return strconv.FormatFloat(s, 'f', 2, 64) + "s" }

// dur writes a latency in the unit that suits it.
func dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
	case d >= time.Millisecond:
		return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) + "ms"
	default:
		return strconv.FormatFloat(float64(d)/1e3, 'f', 0, 64) + "µs"
	}
}
