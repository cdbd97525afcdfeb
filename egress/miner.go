package egress

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/valyala/fasthttp"
)

// session is a key exchanged with a miner. It is immutable once made,
// except for the renewal flag.
type session struct {
	key     *fernet.Key
	uuid    []byte
	created time.Time
	renewAt time.Time // from here a request starts a renewal
	expires time.Time // the miner forgets the key here
	// renewing is set while a renewal runs or after one failed, until
	// retryAt, so a failing miner is not asked at every request.
	renewing atomic.Bool
	retryAt  atomic.Int64
}

// upstream is the connection pool to one address of a miner.
type upstream struct {
	addr string
	tls  bool
	hc   *fasthttp.HostClient
}

// minerState is what egress keeps per miner: its connection pool, its key,
// the exchange under way, its failures and its requests in flight. It is
// safe for concurrent use; the hot path reads atomics only.
type minerState struct {
	pub  [32]byte
	ss58 []byte // miner-hotkey, Bittensor's prefix

	up       atomic.Pointer[upstream]
	sess     atomic.Pointer[session]
	inFlight atomic.Int32

	mu   sync.Mutex // guards call
	call *exchange

	fails        atomic.Int32
	backoffUntil atomic.Int64 // unix ns
}

// exchange is a key exchange under way, shared by every request that
// needs it: done is closed when it ends, and the result fields are set
// before.
type exchange struct {
	done    chan struct{}
	sess    *session
	refusal *refusal // the miner refused with an HTTP answer
	code    Code     // no usable answer
}

// refusal is a miner's HTTP answer to a key exchange, relayed to the
// caller as the miner's own.
type refusal struct {
	status      int
	contentType []byte
	retryAfter  []byte
	body        []byte
}

// failure kinds, for backoff and metrics.
func isTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// transportCode maps an error that left no answer to its code:
// miner_timeout for a timeout after the connection was made,
// miner_unreachable for every failure to connect or a connection closed
// without an answer, miner_bad_answer for an answer that did not parse.
func transportCode(err error) Code {
	var op *net.OpError
	switch {
	case errors.Is(err, fasthttp.ErrDialTimeout), errors.As(err, &op) && op.Op == "dial":
		return CodeMinerUnreachable
	case isTimeout(err):
		return CodeMinerTimeout
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, fasthttp.ErrNoFreeConns), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return CodeMinerUnreachable
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return CodeMinerBadAnswer
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return CodeMinerUnreachable
	}
	return CodeMinerBadAnswer
}

// maxAttempts bounds how often fasthttp sends one request (see
// retryStale).
const maxAttempts = 3

// retryStale says which failed requests fasthttp sends again: one whose
// pooled connection was found closed before anything was written
// (errStaleConn), and, once, one whose connection closed before any byte
// of an answer (the miner closed it as the request went out; uvicorn
// closes idle connections after 5 s). The same signed request may then go
// twice, which is safe: a server that did read the first refuses the
// second as a replayed nonce, and one that did not never saw it.
func retryStale(_ *fasthttp.Request, attempts int, err error) (resetTimeout, retry bool) {
	if errors.Is(err, errStaleConn) {
		return false, true
	}
	return false, attempts < 2 && (errors.Is(err, fasthttp.ErrConnectionClosed) || err == io.EOF)
}

// answered records that the miner answered: its run of failures ends.
func (m *minerState) answered() {
	if m.fails.Load() != 0 {
		m.fails.Store(0)
		m.backoffUntil.Store(0)
	}
}

// failed records a failure to reach the miner and reports whether it was
// backed off by it.
func (m *minerState) failed(b Backoff, now time.Time) bool {
	n := int(m.fails.Add(1))
	if n < b.AfterFailures {
		return false
	}
	wait := b.Initial << min(n-b.AfterFailures, 30)
	if wait > b.Max || wait <= 0 {
		wait = b.Max
	}
	m.backoffUntil.Store(now.Add(wait).UnixNano())
	return true
}

// backedOff returns how long the miner is still left alone at now, or 0.
func (m *minerState) backedOff(now time.Time) time.Duration {
	until := m.backoffUntil.Load()
	if until == 0 {
		return 0
	}
	if d := time.Duration(until - now.UnixNano()); d > 0 {
		return d
	}
	return 0
}
