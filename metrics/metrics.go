package metrics

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Namespace prefixes every metric name.
const Namespace = "fibergate"

// Result label values shared by several metrics.
const (
	// ResultOK marks a handshake or request that succeeded.
	ResultOK = "ok"
)

// SourceChain is the source label of the chain validator list.
const SourceChain = "chain"

// errChain stands for a failed chain read in ValidatorsLoaded, which only
// tells failure from success.
var errChain = errors.New("chain read failed")

// durationBuckets span 100 µs (a cache hit) to 30 s (a slow upstream).
var durationBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
}

// Gauges are read at scrape time from the parts that own the numbers.
type Gauges struct {
	// SymmetricKeys returns the number of live symmetric keys.
	SymmetricKeys func() int
	// NonceEntries returns the number of remembered nonces.
	NonceEntries func() int
	// NonceBytes returns the memory the in-memory replay guard holds, and
	// NonceBudgetBytes is its budget. Both are left out when NonceBytes is
	// nil (the Redis guard has no budget of its own).
	NonceBytes       func() int64
	NonceBudgetBytes int64
	// NonceFloor returns the replay guard's floor (unix ns): nonces stamped
	// at or before it are refused as unverifiable. Left out when nil.
	NonceFloor func() int64
	// RedisEvicting returns 1 while Redis's maxmemory-policy lets it evict
	// keys, 0 while it does not, and -1 while that is unknown. Left out
	// when nil (no Redis).
	RedisEvicting func() int
}

// Build describes the running binary for fibergate_build_info.
type Build struct {
	Version   string
	Revision  string
	GoVersion string
}

// Metrics holds every metric handle. All methods are safe for concurrent use.
type Metrics struct {
	handshakes        *prometheus.CounterVec
	handshakeDuration prometheus.Histogram
	requests          *prometheus.CounterVec
	requestDuration   *prometheus.HistogramVec
	upstreamDuration  *prometheus.HistogramVec
	streams           *prometheus.CounterVec
	validators        *prometheus.GaugeVec
	validatorsRefresh *prometheus.GaugeVec
	validatorReloads  *prometheus.CounterVec
	chainFailures     *prometheus.CounterVec
	chainStale        prometheus.Gauge
	chainBlock        prometheus.Gauge
	snapshotSaves     *prometheus.CounterVec
	snapshotLast      prometheus.Gauge
	backendErrors     *prometheus.CounterVec
	panics            prometheus.Counter
	guardLost         prometheus.Counter
	guardSaves        *prometheus.CounterVec
	acceptErrors      *prometheus.CounterVec
}

// New creates the metrics and registers them, with fibergate_build_info and
// the gauges in g, on reg. It panics only if reg already holds metrics of
// the same names, which is a programming error.
func New(reg prometheus.Registerer, b Build, g Gauges) *Metrics {
	m := &Metrics{
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "handshakes_total",
			Help: "Symmetric-key exchanges by result: ok, or the error code of the refusal.",
		}, []string{"result"}),
		handshakeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "handshake", Name: "duration_seconds",
			Help:    "Time spent on a symmetric-key exchange, refused or not.",
			Buckets: durationBuckets,
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "requests_total",
			Help: "Requests other than key exchanges, by route (a configured route path, default, public_key or invalid_http) and result: ok, or the error code of the refusal or failure.",
		}, []string{"route", "result"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "request", Name: "duration_seconds",
			Help:    "Time from request read to response headers written, by route.",
			Buckets: durationBuckets,
		}, []string{"route"}),
		upstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "upstream", Name: "duration_seconds",
			Help:    "Time the upstream app took to answer with response headers, by route.",
			Buckets: durationBuckets,
		}, []string{"route"}),
		streams: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "upstream", Name: "streams_total",
			Help: "Streamed upstream responses by how they ended: complete, upstream_error (the app broke off or timed out), client_gone, line_too_long (an encrypted line over limits.max_stream_line) or internal_error.",
		}, []string{"result"}),
		validators: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "validators", Name: "loaded",
			Help: "Validators each source supplies to the current list: static, nodes_file or chain.",
		}, []string{"source"}),
		validatorsRefresh: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "validators", Name: "last_refresh_timestamp_seconds",
			Help: "Unix time of the last successful load of each validator source.",
		}, []string{"source"}),
		validatorReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "validators", Name: "reloads_total",
			Help: "Validator source loads by source and result (ok or error).",
		}, []string{"source", "result"}),
		chainFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "validators", Name: "chain_refresh_failures_total",
			Help: "Failed reads of the chain validator list by reason: timeout, unreachable, node_error, bad_response, unsupported_runtime or no_subnet.",
		}, []string{"reason"}),
		chainStale: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "validators", Name: "chain_stale",
			Help: "1 when the chain validator list is missing or older than validators.chain.stale_after, else 0.",
		}),
		chainBlock: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "validators", Name: "chain_block",
			Help: "Block number the current chain validator list was read at (0 for a list loaded from the cache file).",
		}),
		snapshotSaves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "keystore", Name: "snapshot_saves_total",
			Help: "Key snapshot writes by result (ok or error).",
		}, []string{"result"}),
		snapshotLast: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "keystore", Name: "snapshot_last_success_timestamp_seconds",
			Help: "Unix time of the last successful key snapshot write.",
		}),
		backendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "keystore", Name: "backend_errors_total",
			Help: "Failed calls to the shared key and nonce backend (Redis) by operation: get, put, delete, subscription, nonce or ping.",
		}, []string{"op"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "handler_panics_total",
			Help: "Panics recovered in request handlers and stream relays (each one is a bug; that request got a 502 or its stream was cut).",
		}),
		guardLost: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "nonce", Name: "guard_lost_total",
			Help: "Times the replay guard found it could not vouch for what was accepted before (a start without the state a clean shutdown saves; Redis losing the nonces to a flush, a restart without persistence or eviction) and raised its floor.",
		}),
		guardSaves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "nonce", Name: "guard_saves_total",
			Help: "Writes of the in-memory replay guard's state beside the key snapshot (its horizon every few seconds, everything at shutdown), by result: ok or error.",
		}, []string{"result"}),
		acceptErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "listener", Name: "accept_errors_total",
			Help: "Failed accepts of validator connections by reason: fd_limit (out of file descriptors) or other; fibergate waits and accepts again, serving the connections it holds.",
		}, []string{"reason"}),
	}
	build := buildInfo(b)
	// Series with known label values exist from the start at 0, so rates
	// and alerts see the first increment.
	for _, r := range []string{"ok", "error"} {
		m.snapshotSaves.WithLabelValues(r)
		m.guardSaves.WithLabelValues(r)
	}
	for _, r := range []string{AcceptFDLimit, AcceptOther} {
		m.acceptErrors.WithLabelValues(r)
	}
	cs := []prometheus.Collector{
		m.handshakes, m.handshakeDuration, m.requests, m.requestDuration,
		m.upstreamDuration, m.streams, m.validators, m.validatorsRefresh,
		m.validatorReloads, m.chainFailures, m.chainStale, m.chainBlock, m.snapshotSaves, m.snapshotLast, m.backendErrors, m.panics, build,
		m.guardLost, m.guardSaves, m.acceptErrors,
	}
	if g.SymmetricKeys != nil {
		f := g.SymmetricKeys
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "keystore", Name: "keys",
			Help: "Symmetric keys currently held (unexpired).",
		}, func() float64 { return float64(f()) }))
	}
	if g.NonceEntries != nil {
		f := g.NonceEntries
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "nonce", Name: "cache_entries",
			Help: "Nonces remembered by the replay guard.",
		}, func() float64 { return float64(f()) }))
	}
	if g.NonceBytes != nil {
		f := g.NonceBytes
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "nonce", Name: "cache_bytes",
			Help: "Memory the in-memory replay guard holds: its tables of nonces, in use or kept for reuse, and its fixed part. At fibergate_nonce_cache_budget_bytes new nonces are refused (429 nonce_capacity).",
		}, func() float64 { return float64(f()) }))
		budget := prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "nonce", Name: "cache_budget_bytes",
			Help: "The in-memory replay guard's memory budget (replay.max_memory).",
		})
		budget.Set(float64(g.NonceBudgetBytes))
		cs = append(cs, budget)
	}
	if g.NonceFloor != nil {
		f := g.NonceFloor
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "nonce", Name: "floor_timestamp_seconds",
			Help: "The replay guard's floor, as Unix time: a nonce stamped at or before it is refused with 503 nonce_unverifiable (after a start without the saved guard, or a loss of Redis data).",
		}, func() float64 { return float64(f()) / 1e9 }))
	}
	if g.RedisEvicting != nil {
		f := g.RedisEvicting
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "keystore", Name: "redis_evicting",
			Help: "1 while Redis's maxmemory-policy lets it evict keys (fibergate then refuses signed requests and is not ready), 0 while it is noeviction or maxmemory is 0, -1 while fibergate cannot read it.",
		}, func() float64 { return float64(f()) }))
	}
	reg.MustRegister(cs...)
	return m
}

// Reasons of fibergate_listener_accept_errors_total.
const (
	// AcceptFDLimit is an accept failed for want of file descriptors
	// (EMFILE, ENFILE).
	AcceptFDLimit = "fd_limit"
	// AcceptOther is any other failed accept fibergate retries.
	AcceptOther = "other"
)

// NonceGuardLost records that the replay guard raised its floor because
// it could not vouch for what was accepted before.
func (m *Metrics) NonceGuardLost() { m.guardLost.Inc() }

// NonceGuardSaved records a write of the in-memory replay guard's state.
func (m *Metrics) NonceGuardSaved(err error) {
	if err != nil {
		m.guardSaves.WithLabelValues("error").Inc()
		return
	}
	m.guardSaves.WithLabelValues("ok").Inc()
}

// AcceptError records a failed accept of a validator connection; reason is
// AcceptFDLimit or AcceptOther.
func (m *Metrics) AcceptError(reason string) { m.acceptErrors.WithLabelValues(reason).Inc() }

// buildInfo returns fibergate_build_info for b.
func buildInfo(b Build) prometheus.Gauge {
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help:        "Build information; the value is always 1.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion},
	})
	build.Set(1)
	return build
}

// InitResults makes the handshake series for ok and each of handshake, and
// for each route the request series for ok and each of request, exist at 0,
// so that rates and alerts see the first event of every kind. Label values
// must be bounded enums, as everywhere in this package.
func (m *Metrics) InitResults(handshake, request, routes []string) {
	m.handshakes.WithLabelValues(ResultOK)
	for _, r := range handshake {
		m.handshakes.WithLabelValues(r)
	}
	for _, route := range routes {
		m.requests.WithLabelValues(route, ResultOK)
		for _, r := range request {
			m.requests.WithLabelValues(route, r)
		}
	}
}

// InitStreams makes the upstream streams series for each of results, at 0.
func (m *Metrics) InitStreams(results []string) {
	for _, r := range results {
		m.streams.WithLabelValues(r)
	}
}

// Handshake records one symmetric-key exchange and how long it took.
func (m *Metrics) Handshake(result string, d time.Duration) {
	m.handshakes.WithLabelValues(result).Inc()
	m.handshakeDuration.Observe(d.Seconds())
}

// Request records one request on route with its result and duration.
func (m *Metrics) Request(route, result string, d time.Duration) {
	m.requests.WithLabelValues(route, result).Inc()
	m.requestDuration.WithLabelValues(route).Observe(d.Seconds())
}

// Upstream records how long the upstream took to answer on route.
func (m *Metrics) Upstream(route string, d time.Duration) {
	m.upstreamDuration.WithLabelValues(route).Observe(d.Seconds())
}

// Stream records how a streamed response ended.
func (m *Metrics) Stream(result string) {
	m.streams.WithLabelValues(result).Inc()
}

// ValidatorsLoaded records a load of source: its size and time when err is
// nil, a failed reload otherwise.
func (m *Metrics) ValidatorsLoaded(source string, count int, at time.Time, err error) {
	if err != nil {
		m.validatorReloads.WithLabelValues(source, "error").Inc()
		return
	}
	m.validatorReloads.WithLabelValues(source, "ok").Inc()
	m.validators.WithLabelValues(source).Set(float64(count))
	m.validatorsRefresh.WithLabelValues(source).Set(float64(at.UnixNano()) / 1e9)
}

// ChainLoaded records a new chain validator list of count validators, read
// at time at from block (0 when it came from the cache file).
func (m *Metrics) ChainLoaded(count int, at time.Time, block uint64) {
	m.ValidatorsLoaded(SourceChain, count, at, nil)
	m.chainBlock.Set(float64(block))
}

// ChainRefreshFailed records a failed read of the chain, with its reason.
func (m *Metrics) ChainRefreshFailed(reason string) {
	m.ValidatorsLoaded(SourceChain, 0, time.Time{}, errChain)
	m.chainFailures.WithLabelValues(reason).Inc()
}

// ChainStale records whether the chain validator list is stale.
func (m *Metrics) ChainStale(stale bool) {
	v := 0.0
	if stale {
		v = 1
	}
	m.chainStale.Set(v)
}

// SnapshotSaved records a key snapshot write.
func (m *Metrics) SnapshotSaved(at time.Time, err error) {
	if err != nil {
		m.snapshotSaves.WithLabelValues("error").Inc()
		return
	}
	m.snapshotSaves.WithLabelValues("ok").Inc()
	m.snapshotLast.Set(float64(at.UnixNano()) / 1e9)
}

// InitBackend makes the backend error series of each of ops exist at 0;
// serve calls it when a shared backend is configured, so the series exist
// only where they can count.
func (m *Metrics) InitBackend(ops []string) {
	for _, op := range ops {
		m.backendErrors.WithLabelValues(op)
	}
}

// BackendError records a failed call to the shared backend; op is one of
// the bounded operation names given to InitBackend.
func (m *Metrics) BackendError(op string) {
	m.backendErrors.WithLabelValues(op).Inc()
}

// Panic records a recovered handler panic.
func (m *Metrics) Panic() { m.panics.Inc() }
