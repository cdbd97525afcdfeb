package egress

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/internal/fibertest"
	"github.com/fibergate/fibergate/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// keypair returns the test keypair named name (its seed is the name's
// SHA-256: public, for tests only).
func keypair(t testing.TB, name string) *sr25519.Keypair {
	t.Helper()
	kp, err := sr25519.KeypairFromSeed(sha256.Sum256([]byte(name)))
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func ss58Of(kp *sr25519.Keypair) string { return ss58.Encode(kp.Public(), ss58.Bittensor) }

// rig is egress on a loopback port in front of a scripted Fiber miner.
type rig struct {
	t         testing.TB
	validator *sr25519.Keypair
	minerKey  *sr25519.Keypair
	miner     *fibertest.Miner
	h         *Handler
	reg       *prometheus.Registry
	url       string // egress's base URL
	hc        *http.Client
}

// rigOptions adjust a rig before it starts.
type rigOptions struct {
	egress    func(*Options)
	miner     func(*fibertest.Options)
	static    []StaticMiner // added to the scripted miner's entry
	noMiner   bool
	minerAddr string // the scripted miner's listed address instead of its own
}

func newRig(t testing.TB, ro rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, validator: keypair(t, "validator"), minerKey: keypair(t, "miner")}
	mo := fibertest.Options{Hotkey: r.minerKey, Stakes: map[[32]byte]float64{r.validator.Public(): 5000}, MinStake: 1000}
	if ro.miner != nil {
		ro.miner(&mo)
	}
	static := ro.static
	if !ro.noMiner {
		m, err := fibertest.Start(mo)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		r.miner = m
		addr := m.URL()
		if ro.minerAddr != "" {
			addr = ro.minerAddr
		}
		static = append(static, StaticMiner{Hotkey: ss58Of(r.minerKey), Address: addr, UID: 7})
	}
	dir, err := NewDirectory(DirectoryOptions{Static: static, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	r.reg = prometheus.NewRegistry()
	o := Options{
		Keypair:            r.validator,
		Directory:          dir,
		EncryptedResponses: true,
		Logger:             quiet(),
	}
	if ro.egress != nil {
		ro.egress(&o)
	}
	h0 := &Handler{}
	o.Metrics = metrics.NewEgress(r.reg, metrics.Build{}, metrics.EgressGauges{Keys: func() int { return h0.Keys() }, InFlight: func() int { return h0.InFlight() }})
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h0 = h
	r.h = h
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := h.NewServer(ServerOptions{})
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Shutdown()
		h.Close()
	})
	r.url = "http://" + ln.Addr().String()
	r.hc = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(r.hc.CloseIdleConnections)
	return r
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// minerPath is /miner/<the scripted miner's ss58><p>.
func (r *rig) minerPath(p string) string { return "/miner/" + ss58Of(r.minerKey) + p }

// answer is what a caller got.
type answer struct {
	status int
	header http.Header
	body   []byte
	err    error // reading the body
}

// code returns X-Fibergate-Error.
func (a answer) code() string { return a.header.Get(HeaderError) }

func (r *rig) do(method, path string, body string, hdr ...string) answer {
	r.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, r.url+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

func (r *rig) post(path, body string, hdr ...string) answer {
	r.t.Helper()
	return r.do(http.MethodPost, path, body, hdr...)
}

// counter returns the value of an egress counter with the given labels.
func (r *rig) counter(name string, labels map[string]string) float64 {
	r.t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

var _ = testutil.ToFloat64

// decodeJSON decodes b into a map, with numbers kept as written.
func decodeJSON(t testing.TB, b []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v map[string]any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("not a JSON object: %q: %v", b, err)
	}
	return v
}

// eventually polls cond every 10 ms for up to 10 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: not after 10s", what)
}

// ss58For spells pub with another network prefix.
func ss58For(pub [32]byte, prefix uint16) string { return ss58.Encode(pub, prefix) }
