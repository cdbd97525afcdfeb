package proxy_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/internal/e2etest"
	"github.com/fibergate/fibergate/keystore"
	"github.com/fibergate/fibergate/metrics"
	"github.com/fibergate/fibergate/proxy"
	"github.com/fibergate/fibergate/replay"
	"github.com/fibergate/fibergate/validators"
	"github.com/prometheus/client_golang/prometheus"
)

// The dev identities (e2etest's): //Alice validates, //Bob mines.
var (
	aliceSeed = e2etest.Alice.Seed()
	bobSS58   = e2etest.Bob.SS58
)

func mustSeed(s string) [32]byte {
	var out [32]byte
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != 32 {
		panic("bad seed " + s)
	}
	copy(out[:], b)
	return out
}

func mustPub(addr string) [32]byte {
	pub, _, err := ss58.Decode(addr)
	if err != nil {
		panic(err)
	}
	return pub
}

// stakeTable is a fixed validator list.
type stakeTable map[[32]byte]float64

// tableStakes is a stake table with its minimum stake, as the proxy asks
// for it.
type tableStakes struct {
	table stakeTable
	min   float64
}

func (s tableStakes) Stake(pub [32]byte) (float64, bool, bool) {
	v, ok := s.table[pub]
	return v, ok, ok && validators.Eligible(v, s.min)
}

// clock is a settable clock for the handler.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time  { return time.Unix(0, c.ns.Load()) }
func (c *clock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// seen is one request as the upstream app received it.
type seen struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

// upstream is a real HTTP app on loopback that records what it receives.
// /echo* echoes the body; /stream/* writes lines, the second and later ones
// only after release is closed (when set); /slow sleeps; /status/N answers N.
type upstream struct {
	URL     string
	mu      sync.Mutex
	got     []seen
	release chan struct{}
	srv     *http.Server
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{URL: "http://" + ln.Addr().String()}
	u.srv = &http.Server{Handler: http.HandlerFunc(u.serve)}
	go u.srv.Serve(ln)
	t.Cleanup(func() { u.srv.Close() })
	return u
}

func (u *upstream) requests() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.got...)
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.got = append(u.got, seen{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	release := u.release
	u.mu.Unlock()
	switch {
	case r.URL.Path == "/echo-stream":
		// What the transcript's echo app streams: one line per i, the
		// payload's tag and nonce in Python's json.dumps layout.
		var p struct {
			Tag     string `json:"tag"`
			Lines   int    `json:"lines"`
			DelayMS int    `json:"delay_ms"`
			Nonce   string `json:"nonce"`
		}
		json.Unmarshal(body, &p)
		w.Header().Set("Content-Type", "application/x-ndjson")
		for i := range p.Lines {
			fmt.Fprintf(w, `{"i": %d, "of": %d, "tag": %q, "nonce": %q}`+"\n", i, p.Lines, p.Tag, p.Nonce)
			w.(http.Flusher).Flush()
			time.Sleep(time.Duration(p.DelayMS) * time.Millisecond)
		}
	case strings.HasPrefix(r.URL.Path, "/stream/"):
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			if i == 1 && release != nil {
				<-release
			}
			fmt.Fprintf(w, "data: line %d\n", i)
			w.(http.Flusher).Flush()
		}
	case r.URL.Path == "/slow":
		time.Sleep(2 * time.Second)
		io.WriteString(w, "late")
	case strings.HasPrefix(r.URL.Path, "/status/"):
		var code int
		fmt.Sscanf(r.URL.Path, "/status/%d", &code)
		w.Header().Set("X-App", "yes")
		w.WriteHeader(code)
		io.WriteString(w, `{"status":"custom"}`)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-App", "yes")
		w.Write(body)
	}
}

// gate is a running fibergate handler on loopback with its parts exposed.
type gate struct {
	URL     string
	Handler *proxy.Handler
	Keys    *keystore.Memory
	Nonces  *replay.Memory
	Clock   *clock
	RSA     *rsa.PrivateKey
	Reg     *prometheus.Registry
	Miner   string
}

type gateOptions struct {
	rsa        *rsa.PrivateKey
	miner      string
	validators stakeTable
	minStake   float64
	routes     []proxy.Route
	def        *proxy.Route
	upstream   string
	maxBody    int
	timeout    time.Duration
	idle       time.Duration // UpstreamIdle
	now        time.Time
	limits     proxy.RateLimits
	// The app side's bounds and trusted front proxies.
	maxResponse, maxStreamLine int
	trusted                    []netip.Prefix
	// nonces replaces the in-memory replay guard (gate.Nonces is then nil).
	nonces proxy.ReplayGuard
}

var (
	testRSAOnce sync.Once
	testRSA     *rsa.PrivateKey
)

// sharedRSA returns one RSA key for all tests (generating one is slow).
func sharedRSA(t testing.TB) *rsa.PrivateKey {
	testRSAOnce.Do(func() {
		k, err := rsakey.Generate(2048, rand.Reader)
		if err != nil {
			panic(err)
		}
		testRSA = k
	})
	return testRSA
}

func startGate(t testing.TB, o gateOptions) *gate {
	t.Helper()
	if o.rsa == nil {
		o.rsa = sharedRSA(t)
	}
	if o.miner == "" {
		o.miner = bobSS58
	}
	if o.validators == nil {
		alice, _ := sr25519.KeypairFromSeed(aliceSeed)
		o.validators = stakeTable{alice.Public(): 5000}
	}
	if o.minStake == 0 {
		o.minStake = 1000
	}
	if o.now.IsZero() {
		o.now = time.Now()
	}
	def := proxy.Route{Path: "*", Mode: proxy.ModeEncrypted, Response: proxy.ResponseAuto}
	if o.def != nil {
		def = *o.def
	}
	clk := &clock{}
	clk.Set(o.now)
	keys := keystore.NewMemory(keystore.MemoryOptions{})
	guard := replay.NewMemory(replay.MemoryOptions{})
	var nonces proxy.ReplayGuard = guard
	if o.nonces != nil {
		nonces, guard = o.nonces, nil
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, metrics.Build{Version: "test"}, metrics.Gauges{SymmetricKeys: keys.Len, NonceEntries: nonces.Len})
	h, err := proxy.New(proxy.Options{
		MinerHotkey:     mustPub(o.miner),
		RSAKey:          o.rsa,
		Keys:            keys,
		Nonces:          nonces,
		Stakes:          tableStakes{o.validators, o.minStake},
		Routes:          o.routes,
		Default:         def,
		UpstreamURL:     o.upstream,
		UpstreamTimeout: o.timeout,
		UpstreamIdle:    o.idle,
		MaxBody:         o.maxBody,
		Metrics:         m,
		Now:             clk.Now,
		Limits:          o.limits,
		MaxResponse:     o.maxResponse,
		MaxStreamLine:   o.maxStreamLine,
		TrustedProxies:  o.trusted,
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
	return &gate{URL: "http://" + ln.Addr().String(), Handler: h, Keys: keys, Nonces: guard, Clock: clk, RSA: o.rsa, Reg: reg, Miner: o.miner}
}

// newClient returns a validator client for g signing with seed.
func newClient(t testing.TB, g *gate, seed [32]byte) *client.Client {
	t.Helper()
	kp, err := sr25519.KeypairFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Options{BaseURL: g.URL, Keypair: kp, MinerHotkey: g.Miner, Now: g.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rawRequest sends a request exactly as given and returns status and body.
func rawRequest(t *testing.T, method, url string, header http.Header, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// errorCode returns the "error" field of a fibergate error body.
func errorCode(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	json.Unmarshal(body, &e)
	return e.Error
}

func aliceKeypair(t testing.TB) *sr25519.Keypair {
	t.Helper()
	kp, err := sr25519.KeypairFromSeed(aliceSeed)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

var nonceCounter atomic.Int64

// freshNonce returns a unique Fiber nonce stamped now.
func freshNonce(now time.Time) string {
	return fmt.Sprintf("%d_t%09d", now.UnixNano(), nonceCounter.Add(1))
}

// signedHeaders returns Fiber's signed headers: the signature by kp covers
// "{nonce}:{miner}" and ":{third}" when third is not empty.
func signedHeaders(t *testing.T, kp *sr25519.Keypair, n, miner, third string) http.Header {
	t.Helper()
	msg := n + ":" + miner
	if third != "" {
		msg += ":" + third
	}
	sig, err := kp.Sign([]byte(msg), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{
		"validator-hotkey": {ss58.Encode(kp.Public(), ss58.Bittensor)},
		"miner-hotkey":     {miner},
		"nonce":            {n},
		"signature":        {"0x" + hex.EncodeToString(sig[:])},
	}
}

// encryptBody returns plaintext as a Fernet token under key, stamped at now.
func encryptBody(t *testing.T, key *fernet.Key, plaintext string, now time.Time) []byte {
	t.Helper()
	var iv [16]byte
	rand.Read(iv[:])
	return key.Encrypt(nil, []byte(plaintext), now.Unix(), &iv)
}
