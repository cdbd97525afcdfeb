package loadgen

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// Modes of a run, as Result.Mode names them.
const (
	ModeRequests   = "requests"   // signed, encrypted requests after one handshake per validator
	ModeHandshakes = "handshakes" // full handshakes: public key, then key exchange
	ModeFlood      = "flood"      // a mix of bad requests (FloodKinds)
	ModePlain      = "plain"      // plain POSTs: no handshake, no Fiber headers, no crypto
)

// Loops of a run, as Result.Loop names them.
const (
	LoopClosed    = "closed"     // each worker sends as soon as its last answer came
	LoopFixedRate = "fixed_rate" // sends on a fixed schedule, whatever the latency
)

// Result is what a Run measured. Counts, rates and latencies are of the
// measured phase only; setup (handshakes, warmup, signing ahead) is in Setup
// and Signing.
type Result struct {
	// Target is the URL the operations went to.
	Target string `json:"target"`
	// Mode is ModeRequests, ModeHandshakes, ModeFlood or ModePlain.
	Mode string `json:"mode"`
	// Loop is LoopClosed or LoopFixedRate.
	Loop        string  `json:"loop"`
	Validators  int     `json:"validators"`
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate,omitempty"` // the rate asked for, per second
	// ElapsedSeconds is the length of the measured phase, from its start
	// to the last answer.
	ElapsedSeconds float64 `json:"elapsed_s"`
	// Interrupted says the run was cancelled before its duration was up.
	Interrupted bool `json:"interrupted,omitempty"`
	// Ops counts completed operations: requests, handshakes or flood
	// requests, whatever their answer.
	Ops int64 `json:"ops"`
	// OK counts operations answered 2xx that passed every check; in a
	// flood, bad requests the target refused with a 4xx, as it should.
	OK int64 `json:"ok"`
	// Errors counts the other completed operations; in a flood, the
	// failures of the target (see FloodResult.Failures).
	Errors int64 `json:"errors"`
	// Dropped counts scheduled operations of a fixed-rate run never sent,
	// because every worker was still busy when the run ended.
	Dropped int64 `json:"dropped"`
	// OpsPerSec is Ops per second of ElapsedSeconds.
	OpsPerSec float64 `json:"ops_per_s"`
	// RequestsPerSec and HandshakesPerSec split OpsPerSec by mode.
	RequestsPerSec   float64 `json:"requests_per_s"`
	HandshakesPerSec float64 `json:"handshakes_per_s"`
	// Latency is of every completed operation. A fixed-rate run measures
	// from each operation's scheduled send time, so time spent waiting for
	// a free worker counts.
	Latency Latency `json:"latency"`
	// Statuses counts answers by HTTP status (every answer, 2xx included).
	Statuses map[int]int64 `json:"statuses"`
	// Codes counts error codes: the "error" field of error bodies, and the
	// generator's own checks of 2xx answers ("client_not_encrypted",
	// "client_decrypt_failed", "client_echo_mismatch",
	// "client_public_key_changed").
	Codes map[string]int64 `json:"codes"`
	// Transport counts operations that got no HTTP answer, by kind
	// ("timeout", "connection_refused", ...).
	Transport map[string]int64 `json:"transport_errors"`
	// NotOK counts, for every mode but a flood, each operation that was not
	// a clean 200 by how it ended: "<status> <error code>" ("429
	// nonce_capacity", "200 client_echo_mismatch"), the status alone when
	// the answer had no code ("204", "502"), or the transport error
	// ("timeout"). A run with any is not a clean run, whatever its
	// throughput.
	NotOK   map[string]int64 `json:"not_ok,omitempty"`
	Setup   Setup            `json:"setup"`
	Signing Signing          `json:"signing"`
	// Flood holds the answers by kind of a flood run.
	Flood *FloodResult `json:"flood,omitempty"`
}

// Setup describes what happened before the measured phase.
type Setup struct {
	// Handshakes is the number of key exchanges done to set up (one per
	// validator), and HandshakesPerSec how fast they went.
	Handshakes       int     `json:"handshakes"`
	HandshakesPerSec float64 `json:"handshakes_per_s"`
	// WarmupOps is the number of operations of the closed loop's warmup,
	// and EstimatedRate the throughput they showed, which sized the
	// signing ahead.
	WarmupOps     int64   `json:"warmup_ops"`
	EstimatedRate float64 `json:"estimated_rate,omitempty"`
	// Seconds is the whole setup's length.
	Seconds float64 `json:"seconds"`
}

// Signing describes the pre-signing of operations.
type Signing struct {
	// Ahead is the number of operations signed before the measured phase,
	// in AheadSeconds.
	Ahead        int64   `json:"ahead"`
	AheadSeconds float64 `json:"ahead_s"`
	// DuringRun is the number signed in the background during the measured
	// phase: rolling batches of a long run, or a refill when the target was
	// faster than the warmup showed.
	DuringRun int64 `json:"during_run"`
	// Expired is the number dropped unused because they had grown too old
	// for the target's nonce window.
	Expired int64 `json:"expired"`
	// Waits is how often a worker found no signed operation ready and had
	// to wait for the signer (the generator, not the target, was the limit).
	Waits int64 `json:"waits"`
}

// FloodResult is the outcome of a flood run.
type FloodResult struct {
	// Kinds counts answers by flood kind (see FloodKinds), each answer
	// written "<status> <error code>" ("401 signature_invalid"), or the
	// transport error when there was no answer.
	Kinds map[string]map[string]int64 `json:"kinds"`
	// Failures counts answers that are failures of the target: a 5xx, no
	// answer at all (a connection error or a timeout), or a 2xx (a bad
	// request accepted). FailureAnswers breaks them down as "<kind>
	// <answer>".
	Failures       int64            `json:"failures"`
	FailureAnswers map[string]int64 `json:"failure_answers,omitempty"`
	// Exchanges is the number of real key exchanges made during the flood
	// to have fresh ones to replay; ExchangeErrors the number that failed.
	Exchanges      int64 `json:"exchanges"`
	ExchangeErrors int64 `json:"exchange_errors"`
}

// Latency summarizes a set of durations. Percentiles are accurate to within
// 0.5 %; Min, Max and Mean are exact.
type Latency struct {
	Min, Mean, P50, P90, P99, P999, Max time.Duration
}

// latencyJSON is Latency as JSON: milliseconds.
type latencyJSON struct {
	Min  float64 `json:"min_ms"`
	Mean float64 `json:"mean_ms"`
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p99_9_ms"`
	Max  float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func fromMS(f float64) time.Duration { return time.Duration(math.Round(f * 1e6)) }

// MarshalJSON writes l in milliseconds, to the microsecond.
func (l Latency) MarshalJSON() ([]byte, error) {
	return json.Marshal(latencyJSON{ms(l.Min), ms(l.Mean), ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (l *Latency) UnmarshalJSON(b []byte) error {
	var j latencyJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*l = Latency{fromMS(j.Min), fromMS(j.Mean), fromMS(j.P50), fromMS(j.P90), fromMS(j.P99), fromMS(j.P999), fromMS(j.Max)}
	return nil
}

// maxDistinct bounds the distinct keys of each count map, so a target
// answering with ever new codes cannot grow the generator's memory.
const maxDistinct = 256

// tally is one worker's counts; merged into a Result at the end.
type tally struct {
	hist      *histogram
	ops, ok   int64
	statuses  map[int]int64
	codes     map[string]int64
	transport map[string]int64
	kinds     map[string]map[string]int64
	failures  map[string]int64
	notOK     map[string]int64
	nfail     int64
}

func newTally() *tally {
	return &tally{
		hist:      newHistogram(),
		statuses:  map[int]int64{},
		codes:     map[string]int64{},
		transport: map[string]int64{},
		kinds:     map[string]map[string]int64{},
		failures:  map[string]int64{},
		notOK:     map[string]int64{},
	}
}

// count adds one to m[k], folding new keys into "other" once m is full.
func count[K comparable](m map[K]int64, k, other K) {
	if _, ok := m[k]; !ok && len(m) >= maxDistinct {
		k = other
	}
	m[k]++
}

// status records an HTTP answer's status.
func (t *tally) status(s int) { count(t.statuses, s, 0) }

// code records an error code ("" records nothing).
func (t *tally) code(c string) {
	if c != "" {
		count(t.codes, c, "other")
	}
}

// noAnswer records an operation that got no HTTP answer.
func (t *tally) noAnswer(err error) {
	count(t.transport, transportClass(err), "other")
	count(t.notOK, transportClass(err), "other")
}

// ended records how an operation that got an answer ended, unless it was a
// clean 200: its status and error code ("" when none).
func (t *tally) ended(status int, code string) {
	if status != 200 || code != "" {
		count(t.notOK, answerText(status, code, nil), "other")
	}
}

// answer records a flood answer of kind.
func (t *tally) answer(kind, answer string, failed bool) {
	m := t.kinds[kind]
	if m == nil {
		m = map[string]int64{}
		t.kinds[kind] = m
	}
	count(m, answer, "other")
	if failed {
		t.nfail++
		count(t.failures, kind+" "+answer, "other")
	}
}

// answerText is how a flood answer is written: "<status> <code>", the
// status alone, or the transport error.
func answerText(status int, code string, err error) string {
	if err != nil {
		return transportClass(err)
	}
	if code == "" {
		return strconv.Itoa(status)
	}
	return strconv.Itoa(status) + " " + code
}

// merge adds o into t.
func (t *tally) merge(o *tally) {
	t.hist.merge(o.hist)
	t.ops += o.ops
	t.ok += o.ok
	t.nfail += o.nfail
	for k, v := range o.statuses {
		t.statuses[k] += v
	}
	for k, v := range o.codes {
		t.codes[k] += v
	}
	for k, v := range o.transport {
		t.transport[k] += v
	}
	for kind, m := range o.kinds {
		if t.kinds[kind] == nil {
			t.kinds[kind] = map[string]int64{}
		}
		for k, v := range m {
			t.kinds[kind][k] += v
		}
	}
	for k, v := range o.failures {
		t.failures[k] += v
	}
	for k, v := range o.notOK {
		t.notOK[k] += v
	}
}

// fill writes t's counts into r for a measured phase of elapsed.
func (t *tally) fill(r *Result, elapsed time.Duration) {
	r.ElapsedSeconds = elapsed.Seconds()
	r.Ops, r.OK, r.Errors = t.ops, t.ok, t.ops-t.ok
	if elapsed > 0 {
		r.OpsPerSec = float64(t.ops) / elapsed.Seconds()
	}
	if r.Mode == ModeHandshakes {
		r.HandshakesPerSec = r.OpsPerSec
	} else {
		r.RequestsPerSec = r.OpsPerSec
	}
	r.Latency = t.hist.latency()
	r.Statuses, r.Codes, r.Transport = t.statuses, t.codes, t.transport
	if len(t.notOK) > 0 && r.Flood == nil {
		r.NotOK = t.notOK
	}
	if r.Flood != nil {
		r.Flood.Kinds = t.kinds
		r.Flood.Failures = t.nfail
		if len(t.failures) > 0 {
			r.Flood.FailureAnswers = t.failures
		}
	}
}
