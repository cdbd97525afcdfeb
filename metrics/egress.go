package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// egressSubsystem prefixes every metric of `fibergate egress`.
const egressSubsystem = "egress"

// EgressGauges are read at scrape time from the parts of egress that own
// the numbers.
type EgressGauges struct {
	// Keys returns the number of symmetric keys held (one per miner at
	// most).
	Keys func() int
	// InFlight returns the number of requests being served.
	InFlight func() int
}

// Egress holds the metric handles of `fibergate egress`. No label is ever
// a hotkey, an address or a path: a validator talks to every miner of a
// subnet. All methods are safe for concurrent use.
type Egress struct {
	requests          *prometheus.CounterVec
	requestDuration   *prometheus.HistogramVec
	minerDuration     *prometheus.HistogramVec
	handshakes        *prometheus.CounterVec
	handshakeDuration prometheus.Histogram
	streams           *prometheus.CounterVec
	miners            *prometheus.GaugeVec
	reloads           *prometheus.CounterVec
	backoffs          prometheus.Counter
	snapshotSaves     *prometheus.CounterVec
	snapshotLast      prometheus.Gauge
	panics            prometheus.Counter
	acceptErrors      *prometheus.CounterVec
}

// NewEgress creates egress's metrics and registers them, with
// fibergate_build_info and the gauges in g, on reg.
func NewEgress(reg prometheus.Registerer, b Build, g EgressGauges) *Egress {
	opts := func(name, help string) prometheus.CounterOpts {
		return prometheus.CounterOpts{Namespace: Namespace, Subsystem: egressSubsystem, Name: name, Help: help}
	}
	m := &Egress{
		requests: prometheus.NewCounterVec(opts("requests_total",
			"Requests by mode (encrypted or signed) and result: ok (the miner's answer relayed, 1xx to 3xx), miner_refused (its 4xx relayed), miner_error (its 5xx relayed), or egress's own error code."),
			[]string{"mode", "result"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: egressSubsystem, Name: "request_duration_seconds",
			Help:    "Time from a request read to its answer's headers written, key exchange included, by mode.",
			Buckets: durationBuckets,
		}, []string{"mode"}),
		minerDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: egressSubsystem, Name: "miner_duration_seconds",
			Help:    "Time a miner took from the request sent to its answer's headers, by mode.",
			Buckets: durationBuckets,
		}, []string{"mode"}),
		handshakes: prometheus.NewCounterVec(opts("handshakes_total",
			"Key exchanges with miners by result (ok; refused: the miner answered with an HTTP refusal; failed: no usable answer; unreachable; timeout) and trigger (new: no key yet; renew: the key neared its end; unknown_key: the miner did not know the key)."),
			[]string{"result", "trigger"}),
		handshakeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: egressSubsystem, Name: "handshake_duration_seconds",
			Help:    "Time a key exchange took (the public key and the exchange), whatever its result.",
			Buckets: durationBuckets,
		}),
		streams: prometheus.NewCounterVec(opts("streams_total",
			"Streamed answers by how they ended: complete, miner_error (the miner broke off or went idle: the caller's answer is cut too), client_gone, line_too_long, bad_line (an encrypted line that did not decrypt) or internal_error."),
			[]string{"result"}),
		miners: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: egressSubsystem, Name: "miners",
			Help: "Miners each source lists: static, nodes_file or chain.",
		}, []string{"source"}),
		reloads: prometheus.NewCounterVec(opts("source_reloads_total",
			"Loads of a miner source by source and result (ok or error)."),
			[]string{"source", "result"}),
		backoffs: prometheus.NewCounter(opts("backoffs_total",
			"Times a miner was backed off after consecutive failures to reach it.")),
		snapshotSaves: prometheus.NewCounterVec(opts("snapshot_saves_total",
			"Key snapshot writes (keys.persist_file) by result (ok or error)."),
			[]string{"result"}),
		snapshotLast: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: egressSubsystem, Name: "snapshot_last_success_timestamp_seconds",
			Help: "Unix time of the last successful key snapshot write.",
		}),
		panics: prometheus.NewCounter(opts("handler_panics_total",
			"Panics recovered in egress's handlers and stream relays (each one is a bug; that request got a 500 or its stream was cut).")),
		acceptErrors: prometheus.NewCounterVec(opts("listener_accept_errors_total",
			"Failed accepts of callers' connections by reason: fd_limit (out of file descriptors) or other; egress waits and accepts again, serving the connections it holds."),
			[]string{"reason"}),
	}
	for _, r := range []string{"ok", "error"} {
		m.snapshotSaves.WithLabelValues(r)
	}
	for _, r := range []string{AcceptFDLimit, AcceptOther} {
		m.acceptErrors.WithLabelValues(r)
	}
	cs := []prometheus.Collector{
		m.requests, m.requestDuration, m.minerDuration, m.handshakes, m.handshakeDuration,
		m.streams, m.miners, m.reloads, m.backoffs, m.snapshotSaves, m.snapshotLast, m.panics, m.acceptErrors, buildInfo(b),
	}
	if f := g.Keys; f != nil {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: egressSubsystem, Name: "keys",
			Help: "Symmetric keys held, one per miner at most.",
		}, func() float64 { return float64(f()) }))
	}
	if f := g.InFlight; f != nil {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: egressSubsystem, Name: "in_flight",
			Help: "Requests being served now.",
		}, func() float64 { return float64(f()) }))
	}
	reg.MustRegister(cs...)
	return m
}

// Init makes the series of every given label value exist at 0, so rates
// and alerts see the first event of each kind: requests for each mode with
// ok and each of results; handshakes for each of hsResults and triggers;
// streams for each of streamResults; miners and reloads for each source.
func (m *Egress) Init(modes, results, hsResults, triggers, streamResults, sources []string) {
	for _, mode := range modes {
		m.requests.WithLabelValues(mode, ResultOK)
		for _, r := range results {
			m.requests.WithLabelValues(mode, r)
		}
	}
	for _, r := range hsResults {
		for _, t := range triggers {
			m.handshakes.WithLabelValues(r, t)
		}
	}
	for _, r := range streamResults {
		m.streams.WithLabelValues(r)
	}
	for _, s := range sources {
		m.miners.WithLabelValues(s)
		m.reloads.WithLabelValues(s, "ok")
		m.reloads.WithLabelValues(s, "error")
	}
}

// Request records one request in mode with its result and the time to its
// answer's headers.
func (m *Egress) Request(mode, result string, d time.Duration) {
	m.requests.WithLabelValues(mode, result).Inc()
	m.requestDuration.WithLabelValues(mode).Observe(d.Seconds())
}

// Miner records how long a miner took to answer with its headers.
func (m *Egress) Miner(mode string, d time.Duration) {
	m.minerDuration.WithLabelValues(mode).Observe(d.Seconds())
}

// Handshake records one key exchange.
func (m *Egress) Handshake(result, trigger string, d time.Duration) {
	m.handshakes.WithLabelValues(result, trigger).Inc()
	m.handshakeDuration.Observe(d.Seconds())
}

// Stream records how a streamed answer ended.
func (m *Egress) Stream(result string) { m.streams.WithLabelValues(result).Inc() }

// SourceLoaded records a load of a miner source: its size when err is nil,
// a failed load otherwise.
func (m *Egress) SourceLoaded(source string, count int, err error) {
	if err != nil {
		m.reloads.WithLabelValues(source, "error").Inc()
		return
	}
	m.reloads.WithLabelValues(source, "ok").Inc()
	m.miners.WithLabelValues(source).Set(float64(count))
}

// Backoff records a miner backed off.
func (m *Egress) Backoff() { m.backoffs.Inc() }

// SnapshotSaved records a key snapshot write.
func (m *Egress) SnapshotSaved(at time.Time, err error) {
	if err != nil {
		m.snapshotSaves.WithLabelValues("error").Inc()
		return
	}
	m.snapshotSaves.WithLabelValues("ok").Inc()
	m.snapshotLast.Set(float64(at.UnixNano()) / 1e9)
}

// Panic records a recovered panic.
func (m *Egress) Panic() { m.panics.Inc() }

// AcceptError counts a failed accept, by reason (AcceptFDLimit or
// AcceptOther).
func (m *Egress) AcceptError(reason string) { m.acceptErrors.WithLabelValues(reason).Inc() }
