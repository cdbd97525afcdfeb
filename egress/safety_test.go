package egress

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/internal/e2etest"
	"github.com/fibergate/fibergate/internal/fibertest"
	"github.com/fibergate/fibergate/keystore"
)

// A refused connection is 502 miner_unreachable, at the exchange and at
// the request; after backoff.after_failures of them in a row the miner is
// left alone (503 miner_backoff, Retry-After), and a miner that answers
// again ends the backoff.
func TestUnreachableAndBackoff(t *testing.T) {
	dead := e2etest.FreeAddr(t)
	r := newRig(t, rigOptions{minerAddr: "http://" + dead, egress: func(o *Options) {
		o.Backoff = Backoff{AfterFailures: 3, Initial: 500 * time.Millisecond, Max: time.Second}
	}})
	for i := range 3 {
		if a := r.post(r.minerPath("/echo"), `{}`); a.status != 502 || a.code() != "miner_unreachable" {
			t.Fatalf("attempt %d: %d %q", i, a.status, a.code())
		}
	}
	a := r.post(r.minerPath("/echo"), `{}`)
	if a.status != 503 || a.code() != "miner_backoff" || a.header.Get("Retry-After") != "1" {
		t.Fatalf("after 3 failures: %d %q Retry-After %q", a.status, a.code(), a.header.Get("Retry-After"))
	}
	if r.counter("fibergate_egress_handshakes_total", map[string]string{"result": "unreachable", "trigger": "new"}) != 3 ||
		r.counter("fibergate_egress_backoffs_total", nil) != 1 {
		t.Error("the failures or the backoff are not counted")
	}
	// The miner comes up on that address: after the wait it is served.
	if err := restartOn(r, dead); err != nil {
		t.Skipf("could not start a miner on %s: %v", dead, err)
	}
	eventually(t, "the backoff to end and the miner to answer", func() bool {
		return r.post(r.minerPath("/echo"), `{}`).status == 200
	})
	if a := r.post(r.minerPath("/echo"), `{}`); a.status != 200 {
		t.Errorf("after recovery: %d %q", a.status, a.code())
	}
}

// restartOn moves the rig's scripted miner to addr (by restarting a new
// one there).
func restartOn(r *rig, addr string) error {
	r.miner.Close()
	m, err := fibertest.StartOn(addr, fibertest.Options{Hotkey: r.minerKey, Stakes: map[[32]byte]float64{r.validator.Public(): 5000}})
	if err != nil {
		return err
	}
	r.t.Cleanup(m.Close)
	r.miner = m
	return nil
}

// The default in-flight bounds admit 256 concurrent requests to one miner:
// the miner holds every request until all 256 have arrived.
func TestDefaultBoundsAdmit256(t *testing.T) {
	const n = 256
	var arrived atomic.Int32
	all := make(chan struct{})
	r := newRig(t, rigOptions{miner: func(o *fibertest.Options) {
		o.Handler = func(w http.ResponseWriter, req *http.Request, plain []byte, key *fernet.Key) {
			if arrived.Add(1) == n {
				close(all)
			}
			select {
			case <-all:
			case <-time.After(30 * time.Second):
			}
			w.Write(plain)
		}
	}})
	// One key first, so the 256 are requests, not waiters on an exchange.
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Go(func() { statuses[i] = r.post(r.minerPath("/echo"), `{"i":`+strconv.Itoa(i)+`}`).status })
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Fatalf("request %d: %d", i, s)
		}
	}
	if arrived.Load() != n {
		t.Errorf("the miner saw %d at once", arrived.Load())
	}
}

// Over the per-miner bound a request is refused at once with 503
// overloaded and Retry-After, and counted; the others are served.
func TestInFlightBound(t *testing.T) {
	hold := make(chan struct{})
	var arrived atomic.Int32
	r := newRig(t, rigOptions{
		egress: func(o *Options) { o.Limits.MaxInFlightPerMiner = 2 },
		miner: func(o *fibertest.Options) {
			o.Handler = func(w http.ResponseWriter, req *http.Request, plain []byte, key *fernet.Key) {
				arrived.Add(1)
				<-hold
				w.Write(plain)
			}
		},
	})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if a := r.post(r.minerPath("/echo"), `{}`); a.status != 200 {
				t.Errorf("a held request: %d", a.status)
			}
		})
	}
	eventually(t, "two requests at the miner", func() bool { return arrived.Load() == 2 })
	a := r.post(r.minerPath("/echo"), `{}`)
	if a.status != 503 || a.code() != "overloaded" || a.header.Get("Retry-After") == "" {
		t.Errorf("the third: %d %q", a.status, a.code())
	}
	if r.h.InFlight() != 2 {
		t.Errorf("in flight: %d", r.h.InFlight())
	}
	close(hold)
	wg.Wait()
	eventually(t, "nothing in flight", func() bool { return r.h.InFlight() == 0 })
}

// Without allow_clients only loopback callers are served; with it, only
// the addresses it lists.
func TestAllowClients(t *testing.T) {
	r := newRig(t, rigOptions{egress: func(o *Options) {
		o.AllowClients = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	}})
	if a := r.post(r.minerPath("/echo"), `{}`); a.status != 403 || a.code() != "client_not_allowed" {
		t.Errorf("127.0.0.1 not in allow_clients: %d %q", a.status, a.code())
	}
	r = newRig(t, rigOptions{egress: func(o *Options) {
		o.AllowClients = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}})
	if a := r.post(r.minerPath("/echo"), `{}`); a.status != 200 {
		t.Errorf("127.0.0.1 in allow_clients: %d %q", a.status, a.code())
	}
}

// An explicit address is refused unless allowed; allowed, it reaches a
// miner no source lists.
func TestExplicitAddress(t *testing.T) {
	r := newRig(t, rigOptions{})
	stranger := "/miner/" + ss58Of(keypair(t, "stranger")) + "/echo"
	if a := r.post(stranger, `{}`, HeaderAddress, r.miner.URL()); a.status != 400 || a.code() != "bad_target" {
		t.Errorf("not allowed: %d %q", a.status, a.code())
	}
	r = newRig(t, rigOptions{egress: func(o *Options) { o.AllowExplicitAddress = true }, noMiner: true,
		static: []StaticMiner{{Hotkey: ss58Of(keypair(t, "listed")), Address: "http://127.0.0.1:1", UID: 1}}})
	m, err := fibertest.Start(fibertest.Options{Hotkey: keypair(t, "stranger"), Stakes: map[[32]byte]float64{r.validator.Public(): 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if a := r.post(stranger, `{"a":1}`, HeaderAddress, m.URL()); a.status != 200 {
		t.Errorf("allowed: %d %q %s", a.status, a.code(), a.body)
	}
	for _, bad := range []string{"ftp://x:1", "http://0.0.0.0:80", "http://h:1/path", "h"} {
		if a := r.post(stranger, `{}`, HeaderAddress, bad); a.status != 400 || a.code() != "bad_target" {
			t.Errorf("address %q: %d %q", bad, a.status, a.code())
		}
	}
}

// An exchange that gets no answer in timeouts.handshake is 504 for every
// request waiting on it.
func TestHandshakeTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accepts and never answers
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	r := newRig(t, rigOptions{minerAddr: "http://" + ln.Addr().String(), egress: func(o *Options) { o.Timeouts.Handshake = 300 * time.Millisecond }})
	start := time.Now()
	a := r.post(r.minerPath("/echo"), `{}`)
	if a.status != 504 || a.code() != "miner_timeout" || time.Since(start) > 5*time.Second {
		t.Errorf("got %d %q after %v", a.status, a.code(), time.Since(start))
	}
	if r.counter("fibergate_egress_handshakes_total", map[string]string{"result": "timeout"}) != 1 {
		t.Error("the timed-out exchange is not counted")
	}
}

// Keys recorded in a key store are used again by a new Handler (as after
// a restart with keys.persist_file): no exchange.
func TestRestoredKeysAreUsed(t *testing.T) {
	keys := keystore.NewMemory(keystore.MemoryOptions{TTL: DefaultKeyTTL, MaxPerValidator: 1})
	r := newRig(t, rigOptions{egress: func(o *Options) { o.Keys = keys }})
	if a := r.post(r.minerPath("/echo"), `{}`); a.status != 200 {
		t.Fatal(a.status)
	}
	if keys.Len() != 1 {
		t.Fatalf("the key store holds %d keys", keys.Len())
	}
	dir, _ := NewDirectory(DirectoryOptions{Static: []StaticMiner{{Hotkey: ss58Of(r.minerKey), Address: r.miner.URL(), UID: -1}}, Logger: quiet()})
	h2, err := New(Options{Keypair: r.validator, Directory: dir, Keys: keys, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if h2.Keys() != 0 {
		t.Errorf("keys before first use: %d", h2.Keys())
	}
	r.h = h2
	before := r.miner.Exchanges()
	srvURL := serveHandler(t, h2)
	r.url = srvURL
	if a := r.post(r.minerPath("/echo"), `{}`); a.status != 200 {
		t.Fatal(a.status)
	}
	if r.miner.Exchanges() != before {
		t.Errorf("the restored key was not used: %d exchanges", r.miner.Exchanges()-before)
	}
}

// serveHandler serves h on a loopback port and returns its URL.
func serveHandler(t *testing.T, h *Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := h.NewServer(ServerOptions{})
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(); h.Close() })
	return "http://" + ln.Addr().String()
}
