package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/nonce"
	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/internal/e2etest"
	"github.com/fibergate/fibergate/proxy"
	"github.com/fibergate/fibergate/replay"
)

// checkLatency checks the order of a latency summary.
func checkLatency(t *testing.T, l Latency) {
	t.Helper()
	ds := []time.Duration{l.Min, l.P50, l.P90, l.P99, l.P999, l.Max}
	if l.Min <= 0 {
		t.Errorf("latency min: got %v, want > 0", l.Min)
	}
	for i := 1; i < len(ds); i++ {
		if ds[i] < ds[i-1] {
			t.Errorf("latency percentiles out of order: %+v", l)
			break
		}
	}
	if l.Mean < l.Min || l.Mean > l.Max {
		t.Errorf("latency mean %v outside [%v, %v]", l.Mean, l.Min, l.Max)
	}
}

// checkAllOK checks that every operation of res succeeded with 200.
func checkAllOK(t *testing.T, res *Result) {
	t.Helper()
	if res.Ops == 0 {
		t.Fatal("no operations completed")
	}
	if res.Errors != 0 || res.OK != res.Ops {
		t.Errorf("got %d ok and %d errors of %d (statuses %v, codes %v, no answer %v), want all ok",
			res.OK, res.Errors, res.Ops, res.Statuses, res.Codes, res.Transport)
	}
	if len(res.Statuses) != 1 || res.Statuses[200] != res.Ops {
		t.Errorf("statuses: got %v, want {200: %d}", res.Statuses, res.Ops)
	}
	if len(res.Codes) != 0 || len(res.Transport) != 0 || len(res.NotOK) != 0 {
		t.Errorf("codes %v, no answer %v, not 200 %v: want none", res.Codes, res.Transport, res.NotOK)
	}
	if res.Signing.Expired != 0 {
		t.Errorf("signing: %d expired, want 0", res.Signing.Expired)
	}
	checkLatency(t, res.Latency)
}

func TestClosedLoop(t *testing.T) {
	tg := startTarget(t, targetOptions{validators: 4})
	res := run(t, Options{
		URL: tg.URL, Miner: bobSS58, Validators: 4, Concurrency: 8,
		Duration: time.Second, Warmup: 200 * time.Millisecond,
		Payload: []byte(`{"prompt": "bench"}`), Size: 300,
	})
	checkAllOK(t, res)
	if res.Mode != ModeRequests || res.Loop != LoopClosed {
		t.Errorf("mode, loop: got %s, %s, want %s, %s", res.Mode, res.Loop, ModeRequests, LoopClosed)
	}
	if res.Setup.Handshakes != 4 || res.Setup.WarmupOps == 0 || res.Signing.Ahead == 0 {
		t.Errorf("setup %+v, signing %+v: want 4 handshakes, a warmup and signing ahead", res.Setup, res.Signing)
	}
	if res.ElapsedSeconds < 1 || res.ElapsedSeconds > 1+DefaultTimeout.Seconds() {
		t.Errorf("elapsed: got %.2fs, want 1s and at most one timeout more", res.ElapsedSeconds)
	}

	// Every request reached the app once, decrypted, from the 4 validators.
	got := tg.App.requests()
	if want := res.Setup.WarmupOps + res.Ops; int64(len(got)) != want {
		t.Fatalf("the app got %d requests, want %d (warmup %d + measured %d)", len(got), want, res.Setup.WarmupOps, res.Ops)
	}
	want := map[string]bool{}
	for i := range 4 {
		kp, _ := ValidatorKey(DefaultSeedPrefix, i)
		want[ss58.Encode(kp.Public(), ss58.Bittensor)] = true
	}
	seenVal := map[string]bool{}
	seenNonce := map[string]bool{}
	for i, r := range got {
		var p struct {
			Prompt string  `json:"prompt"`
			Pad    *string `json:"pad"`
			Nonce  string  `json:"nonce"`
		}
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatalf("request %d: the app got %q: %v", i, r.body, err)
		}
		if p.Prompt != "bench" || p.Pad == nil {
			t.Errorf("request %d: got %q, want the payload with a pad field", i, r.body)
		}
		if len(r.body) < 300 {
			t.Errorf("request %d: got %d bytes, want at least 300", i, len(r.body))
		}
		if _, err := nonce.Parse([]byte(p.Nonce)); err != nil {
			t.Errorf("request %d: inner nonce %q: %v", i, p.Nonce, err)
		}
		if seenNonce[p.Nonce] {
			t.Errorf("request %d: inner nonce %q sent twice", i, p.Nonce)
		}
		seenNonce[p.Nonce] = true
		if !want[r.validator] {
			t.Errorf("request %d: from validator %q, not one of the simulated ones", i, r.validator)
		}
		seenVal[r.validator] = true
	}
	if len(seenVal) != 4 {
		t.Errorf("the app heard from %d validators, want 4", len(seenVal))
	}
}

func TestFixedRate(t *testing.T) {
	tg := startTarget(t, targetOptions{validators: 2})
	const rate, seconds = 100, 2
	res := run(t, Options{URL: tg.URL, Miner: bobSS58, Validators: 2, Concurrency: 8, Rate: rate, Duration: seconds * time.Second})
	checkAllOK(t, res)
	if res.Loop != LoopFixedRate {
		t.Errorf("loop: got %s, want %s", res.Loop, LoopFixedRate)
	}
	if res.Ops != rate*seconds || res.Dropped != 0 {
		t.Errorf("got %d sent and %d dropped, want %d sent and none dropped", res.Ops, res.Dropped, rate*seconds)
	}
	if res.OpsPerSec < rate*0.85 || res.OpsPerSec > rate*1.05 {
		t.Errorf("rate: got %.1f/s, want about %d/s", res.OpsPerSec, rate)
	}
	// The schedule is spread over the run, not sent in bursts: each half
	// second saw about a half second's worth.
	got := tg.App.requests()
	start := got[0].at
	var halves [seconds * 2]int
	for _, r := range got {
		if i := int(r.at.Sub(start) / (time.Second / 2)); i < len(halves) {
			halves[i]++
		}
	}
	for i, n := range halves {
		if n < rate/2*6/10 || n > rate/2*14/10 {
			t.Errorf("half second %d: the app got %d requests, want about %d (all: %v)", i, n, rate/2, halves)
		}
	}
}

// TestFixedRateCountsQueueing runs a fixed rate the target cannot keep up
// with: latencies must be measured from the schedule (they grow as the
// backlog does), and what could not be sent is counted as dropped.
func TestFixedRateCountsQueueing(t *testing.T) {
	tg := startTarget(t, targetOptions{validators: 1, appDelay: 40 * time.Millisecond})
	const rate, seconds = 50, 2
	res := run(t, Options{URL: tg.URL, Miner: bobSS58, Validators: 1, Concurrency: 1, Rate: rate, Duration: seconds * time.Second})
	if res.Errors != 0 {
		t.Errorf("got %d errors (%v), want none", res.Errors, res.Codes)
	}
	if res.Ops+res.Dropped != rate*seconds || res.Dropped == 0 {
		t.Errorf("got %d sent, %d dropped; want some dropped, %d in all", res.Ops, res.Dropped, rate*seconds)
	}
	// One worker needs 40 ms a request, the schedule asks for one every
	// 20 ms: the last ones sent are late by about half the run.
	if res.Latency.Max < 700*time.Millisecond {
		t.Errorf("max latency: got %v, want the backlog (> 700ms) counted", res.Latency.Max)
	}
	if res.Latency.Min < 40*time.Millisecond {
		t.Errorf("min latency: got %v, want at least the app's 40ms", res.Latency.Min)
	}
}

func TestResponseChecks(t *testing.T) {
	tests := []struct {
		name     string
		response proxy.ResponseMode
		answer   []byte
		opts     Options
		wantCode string // "" for all ok
	}{
		{"encrypted answers decrypt and echo", proxy.ResponseAuto, nil, Options{EncryptedResponse: true, CheckEcho: true}, ""},
		{"plain answers echo", proxy.ResponseAuto, nil, Options{CheckEcho: true}, ""},
		{"plain answer when an encrypted one was asked for", proxy.ResponsePlain, nil, Options{EncryptedResponse: true}, "client_not_encrypted"},
		{"an answer that is no echo", proxy.ResponseAuto, []byte(`{"ok": true}`), Options{EncryptedResponse: true, CheckEcho: true}, "client_echo_mismatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := startTarget(t, targetOptions{validators: 2, response: tc.response, appAnswer: tc.answer})
			o := tc.opts
			o.URL, o.Miner, o.Validators, o.Concurrency = tg.URL, bobSS58, 2, 4
			o.Rate, o.Duration = 100, 500*time.Millisecond
			res := run(t, o)
			if tc.wantCode == "" {
				checkAllOK(t, res)
				return
			}
			if res.Ops == 0 || res.OK != 0 || res.Codes[tc.wantCode] != res.Ops || res.Statuses[200] != res.Ops || res.NotOK["200 "+tc.wantCode] != res.Ops {
				t.Errorf("got %d ok of %d, statuses %v, codes %v, not 200 %v; want every answer 200 and refused by the check as %s",
					res.OK, res.Ops, res.Statuses, res.Codes, res.NotOK, tc.wantCode)
			}
		})
	}
}

func TestHandshakesOnly(t *testing.T) {
	tg := startTarget(t, targetOptions{validators: 3})
	res := run(t, Options{URL: tg.URL, Miner: bobSS58, Validators: 3, Concurrency: 4, Duration: time.Second, Warmup: 100 * time.Millisecond, HandshakesOnly: true})
	checkAllOK(t, res)
	if res.Mode != ModeHandshakes || res.HandshakesPerSec <= 0 || res.RequestsPerSec != 0 {
		t.Errorf("got mode %s, %.1f handshakes/s, %.1f requests/s; want handshakes only", res.Mode, res.HandshakesPerSec, res.RequestsPerSec)
	}
	// Each handshake stored a key (the store keeps at most 64 per validator).
	total := res.Ops + res.Setup.WarmupOps
	if got, want := int64(tg.Keys.Len()), min(total, 3*64); got < min(want, 3) || got > want {
		t.Errorf("the target holds %d keys after %d handshakes, want up to %d", got, total, want)
	}
	if n := len(tg.App.requests()); n != 0 {
		t.Errorf("the app got %d requests, want none", n)
	}
}

func TestFlood(t *testing.T) {
	const maxBody = 64 << 10
	tg := startTarget(t, targetOptions{validators: 2, maxBody: maxBody})
	kinds := FloodKinds()
	rate := float64(10 * len(kinds)) // 20 of each kind in 2 s
	res := run(t, Options{URL: tg.URL, Miner: bobSS58, Validators: 2, Concurrency: 8, Rate: rate, Duration: 2 * time.Second, Flood: true, MaxBody: maxBody})
	if res.Flood == nil {
		t.Fatal("no flood result")
	}
	if res.Flood.Failures != 0 || res.Errors != 0 || res.OK != res.Ops || res.Ops == 0 {
		t.Errorf("got %d failures (%v), %d ok of %d; want every request refused with a 4xx",
			res.Flood.Failures, res.Flood.FailureAnswers, res.OK, res.Ops)
	}
	for s := range res.Statuses {
		if s < 400 || s > 499 {
			t.Errorf("status %d answered %d times, want only 4xx", s, res.Statuses[s])
		}
	}
	for _, k := range kinds {
		got := res.Flood.Kinds[k.Name]
		if len(got) != 1 || got[k.Want] == 0 {
			t.Errorf("kind %s (%s): got answers %v, want all %q", k.Name, k.About, got, k.Want)
		}
	}
	if res.Flood.Exchanges < 1 || res.Flood.ExchangeErrors != 0 {
		t.Errorf("exchanges to replay: got %d ok, %d failed; want at least 1 ok", res.Flood.Exchanges, res.Flood.ExchangeErrors)
	}
	if n := len(tg.App.requests()); n != 0 {
		t.Errorf("the app got %d requests, want none", n)
	}
}

// brokenServer is a Fiber server that does the handshake and then answers
// every other request with status: a target flood mode must fault.
func brokenServer(t *testing.T, status int) string {
	t.Helper()
	pem, err := rsakey.PublicPEM(&testRSA(t).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case publicKeyPath:
			json.NewEncoder(w).Encode(map[string]any{"public_key": string(pem), "timestamp": 0})
		case exchangePath:
			if r.Header.Get("validator-hotkey") != "" && strings.Contains(readAll(r), "encrypted_symmetric_key") {
				w.Write([]byte(`{"status":"Symmetric key exchanged successfully"}`))
				return
			}
			w.WriteHeader(status)
		default:
			w.WriteHeader(status)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func readAll(r *http.Request) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil || b.Len() > 1<<20 {
			return b.String()
		}
	}
}

func TestFloodCountsFailures(t *testing.T) {
	url := brokenServer(t, http.StatusInternalServerError)
	res := run(t, Options{URL: url, Miner: bobSS58, Validators: 1, Concurrency: 4, Rate: 140, Duration: time.Second, Flood: true})
	if res.Flood.Failures == 0 {
		t.Fatalf("got no failures from a server answering 500 and accepting replays; kinds %v", res.Flood.Kinds)
	}
	var sum int64
	for _, n := range res.Flood.FailureAnswers {
		sum += n
	}
	if sum != res.Flood.Failures || res.Errors != res.Flood.Failures {
		t.Errorf("failures %d, errors %d, by answer %v: want them to agree", res.Flood.Failures, res.Errors, res.Flood.FailureAnswers)
	}
	for _, want := range []string{"garbage_body 500", "unknown_hotkey 500", "replayed_exchange 200"} {
		if res.Flood.FailureAnswers[want] == 0 {
			t.Errorf("failure answers %v: want %q among them", res.Flood.FailureAnswers, want)
		}
	}
}

func TestSetupRefused(t *testing.T) {
	tg := startTarget(t, targetOptions{validators: 2})
	alice := e2etest.Alice.SS58
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{"validators not listed", Options{Validators: 3}, []string{"validator 2", "unknown_validator", "fibergate bench nodes"}},
		{"another seed prefix", Options{Validators: 1, SeedPrefix: "other-"}, []string{"unknown_validator"}},
		{"wrong miner", Options{Validators: 1, Miner: alice}, []string{"wrong_miner", "--miner"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.URL, o.Duration = tg.URL, time.Second
			if o.Miner == "" {
				o.Miner = bobSS58
			}
			ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
			defer cancel()
			res, err := Run(ctx, o)
			if err == nil || res != nil {
				t.Fatalf("got %v, %v; want an error and no result", res, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q: want it to mention %q", err, w)
				}
			}
		})
	}
}

// TestRollingSigning runs longer than the signing-ahead horizon, as a soak
// does: requests must be signed in the background shortly before use, so
// that none is near the end of the nonce window when the target sees it.
func TestRollingSigning(t *testing.T) {
	const window = 8 * time.Second
	tg := startTarget(t, targetOptions{validators: 2, nonceWindow: window})
	res := run(t, Options{
		URL: tg.URL, Miner: bobSS58, Validators: 2, Concurrency: 4, Rate: 100,
		Duration: 6 * time.Second, NonceWindow: window, Ahead: time.Second,
	})
	checkAllOK(t, res)
	if res.Signing.Ahead >= res.Ops/2 || res.Signing.DuringRun == 0 || res.Signing.Waits != 0 {
		t.Errorf("signing %+v for %d requests: want most signed during the run, never waited for", res.Signing, res.Ops)
	}
	var oldest time.Duration
	for _, r := range tg.App.requests() {
		var p struct {
			Nonce string `json:"nonce"`
		}
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		ts, err := nonce.Parse([]byte(p.Nonce))
		if err != nil {
			t.Fatal(err)
		}
		oldest = max(oldest, r.at.Sub(time.Unix(0, ts)))
	}
	if oldest > 3*time.Second {
		t.Errorf("the oldest request was signed %v before the app got it, want well under the 6s run", oldest)
	}
}

func TestInterrupt(t *testing.T) {
	tg := startTarget(t, targetOptions{validators: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel once the measured phase is under way (the app has seen
	// requests), not at a fixed time that a slow setup could outlast.
	go func() {
		for deadline := time.Now().Add(runTimeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if len(tg.App.requests()) >= 10 {
				time.Sleep(time.Second)
				cancel()
				return
			}
		}
	}()
	start := time.Now()
	res, err := Run(ctx, Options{URL: tg.URL, Miner: bobSS58, Validators: 1, Concurrency: 2, Rate: 50, Duration: 30 * time.Second})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !res.Interrupted || res.Dropped != 0 || res.Errors != 0 {
		t.Errorf("got interrupted %v, %d dropped, %d errors; want interrupted, none dropped or failed", res.Interrupted, res.Dropped, res.Errors)
	}
	if took := time.Since(start); took > 15*time.Second || res.Ops < 10 || res.Ops > 200 {
		t.Errorf("cancelled about 1s into the run: took %v with %d requests, want a few seconds and about 60", took, res.Ops)
	}
}

func TestOptionsRefused(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no URL", Options{Miner: bobSS58}, "URL is required"},
		{"URL without host", Options{URL: "http://", Miner: bobSS58}, "URL"},
		{"ftp URL", Options{URL: "ftp://127.0.0.1", Miner: bobSS58}, "URL"},
		{"no miner", Options{URL: "http://127.0.0.1:1"}, "Miner is required"},
		{"bad miner", Options{URL: "http://127.0.0.1:1", Miner: "5Fxxx"}, "Miner"},
		{"negative rate", Options{URL: "http://127.0.0.1:1", Miner: bobSS58, Rate: -1}, "Rate"},
		{"flood without rate", Options{URL: "http://127.0.0.1:1", Miner: bobSS58, Flood: true}, "Flood needs a Rate"},
		{"flood and handshakes", Options{URL: "http://127.0.0.1:1", Miner: bobSS58, Flood: true, HandshakesOnly: true, Rate: 1}, "exclude"},
		{"payload not an object", Options{URL: "http://127.0.0.1:1", Miner: bobSS58, Payload: []byte(`[1]`)}, "Payload"},
		{"relative path", Options{URL: "http://127.0.0.1:1", Miner: bobSS58, Path: "echo"}, "Path"},
		{"tiny window", Options{URL: "http://127.0.0.1:1", Miner: bobSS58, NonceWindow: time.Second}, "NonceWindow"},
		{"negative validators", Options{URL: "http://127.0.0.1:1", Miner: bobSS58, Validators: -1}, "Validators"},
		{"plain and encrypted responses", Options{URL: "http://127.0.0.1:1", Plain: true, EncryptedResponse: true}, "Plain excludes"},
		{"plain and handshakes", Options{URL: "http://127.0.0.1:1", Plain: true, HandshakesOnly: true}, "Plain excludes"},
		{"plain flood", Options{URL: "http://127.0.0.1:1", Plain: true, Flood: true, Rate: 1}, "Plain excludes"},
		{"plain with a bad miner", Options{URL: "http://127.0.0.1:1", Plain: true, Miner: "5Fxxx"}, "Miner"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Run(context.Background(), tc.opts)
			if !errors.Is(err, ErrOptions) || res != nil {
				t.Fatalf("got %v, %v; want ErrOptions", res, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestReportsRefusals plays the run that once looked like a success: a
// target whose replay guard fills refuses part of the requests with 429
// nonce_capacity. The result and its text say so, by status and code.
func TestReportsRefusals(t *testing.T) {
	const w = 10 * time.Second
	tg := startTarget(t, targetOptions{validators: 2, nonceWindow: w, replayBytes: replay.NewMemory(replay.MemoryOptions{Window: w}).MemoryBytes() + 4<<10})
	res := run(t, Options{URL: tg.URL, Miner: bobSS58, Validators: 2, Concurrency: 4, Rate: 400, Duration: 2 * time.Second, NonceWindow: w})
	refused := res.NotOK["429 nonce_capacity"]
	if refused == 0 || res.OK == 0 || refused+res.OK != res.Ops || res.Errors != refused {
		t.Fatalf("got %d ok, %d errors of %d, not 200 %v; want some ok and the rest 429 nonce_capacity", res.OK, res.Errors, res.Ops, res.NotOK)
	}
	var b strings.Builder
	if err := res.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if want := "  not 200     429 nonce_capacity: " + count64(refused) + "\n"; !strings.Contains(b.String(), want) {
		t.Errorf("the report lacks %q:\n%s", want, b.String())
	}
}
