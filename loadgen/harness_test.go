package loadgen

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/internal/e2etest"
	"github.com/fibergate/fibergate/keystore"
	"github.com/fibergate/fibergate/metrics"
	"github.com/fibergate/fibergate/proxy"
	"github.com/fibergate/fibergate/replay"
	"github.com/fibergate/fibergate/validators"
	"github.com/prometheus/client_golang/prometheus"
)

// bobSS58 is the miner of every test target (the dev identity //Bob).
var bobSS58 = e2etest.Bob.SS58

// runTimeout bounds every Run a test makes.
const runTimeout = 60 * time.Second

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
	rsaErr  error
)

// testRSA returns one RSA key for every test target (making one is slow).
func testRSA(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() { rsaKey, rsaErr = rsakey.Generate(2048, rand.Reader) })
	if rsaErr != nil {
		t.Fatal(rsaErr)
	}
	return rsaKey
}

// received is one request as the echo app got it.
type received struct {
	at        time.Time
	validator string
	header    http.Header
	body      []byte
}

// echoApp is the upstream of a test target: it answers every request
// with its body (or with answer, when set) after delay, and records what
// it got.
type echoApp struct {
	URL string
	mu  sync.Mutex
	got []received
}

func startEcho(t *testing.T, delay time.Duration, answer []byte) *echoApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &echoApp{URL: "http://" + ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.got = append(a.got, received{at: time.Now(), validator: r.Header.Get("X-Fiber-Validator-Hotkey"), header: r.Header.Clone(), body: body})
		a.mu.Unlock()
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/json")
		if answer != nil {
			body = answer
		}
		w.Write(body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return a
}

func (a *echoApp) requests() []received {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]received(nil), a.got...)
}

// targetOptions shape a test target.
type targetOptions struct {
	validators  int // simulated validators listed, under DefaultSeedPrefix
	response    proxy.ResponseMode
	nonceWindow time.Duration
	maxBody     int
	appDelay    time.Duration // how long the app takes to answer
	appAnswer   []byte        // what the app answers instead of an echo
	replayBytes int64         // the replay guard's memory budget (0: the default)
}

// testTarget is a fibergate on loopback with an echo app behind it.
type testTarget struct {
	URL  string
	App  *echoApp
	Keys *keystore.Memory
}

// stakeTable is a fixed validator list.
type stakeTable map[[32]byte]float64

// Stake serves the proxy with a minimum stake of 1000.
func (s stakeTable) Stake(pub [32]byte) (float64, bool, bool) {
	v, ok := s[pub]
	return v, ok, ok && validators.Eligible(v, 1000)
}

// startTarget runs fibergate in process on 127.0.0.1, listing the first
// o.validators simulated validators with a stake of 5000.
func startTarget(t *testing.T, o targetOptions) *testTarget {
	t.Helper()
	app := startEcho(t, o.appDelay, o.appAnswer)
	stakes := stakeTable{}
	for i := range o.validators {
		kp, err := ValidatorKey(DefaultSeedPrefix, i)
		if err != nil {
			t.Fatal(err)
		}
		stakes[kp.Public()] = 5000
	}
	miner, _, err := ss58.Decode(bobSS58)
	if err != nil {
		t.Fatal(err)
	}
	keys := keystore.NewMemory(keystore.MemoryOptions{})
	guard := replay.NewMemory(replay.MemoryOptions{Window: o.nonceWindow, MaxMemory: o.replayBytes})
	m := metrics.New(prometheus.NewRegistry(), metrics.Build{Version: "test"}, metrics.Gauges{SymmetricKeys: keys.Len, NonceEntries: guard.Len})
	h, err := proxy.New(proxy.Options{
		MinerHotkey: miner,
		RSAKey:      testRSA(t),
		Keys:        keys,
		Nonces:      guard,
		Stakes:      stakes,
		NonceWindow: o.nonceWindow,
		Default:     proxy.Route{Path: "*", Mode: proxy.ModeEncrypted, Response: o.response},
		UpstreamURL: app.URL,
		MaxBody:     o.maxBody,
		Metrics:     m,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := h.NewServer(proxy.ServerOptions{ReadTimeout: 5 * time.Second, WriteTimeout: 10 * time.Second})
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Shutdown()
		h.Close()
	})
	return &testTarget{URL: "http://" + ln.Addr().String(), App: app, Keys: keys}
}

// run calls Run with a bounded context and fails the test on an error.
func run(t *testing.T, o Options) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Interrupted {
		t.Fatalf("Run was interrupted (took over %v)", runTimeout)
	}
	return res
}
