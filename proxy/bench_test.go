package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/crypto/ss58"
	"github.com/fibergate/fibergate/keystore"
	"github.com/fibergate/fibergate/metrics"
	"github.com/fibergate/fibergate/replay"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// BenchmarkServeEncrypted measures the handler's whole encrypted path for
// one request (verify, replay guard, key lookup, decrypt, forward to a
// fasthttp echo app on loopback, encrypt the answer), with requests signed
// beforehand so signing is not measured.
func BenchmarkServeEncrypted(b *testing.B) {
	for _, size := range []int{256, 4096} {
		for _, enc := range []bool{false, true} {
			b.Run(fmt.Sprintf("%dB/encrypted-response=%v", size, enc), func(b *testing.B) {
				benchServe(b, size, enc)
			})
		}
	}
}

func benchServe(b *testing.B, size int, encryptResponse bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	app := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(ctx.Request.Body())
	}}
	go app.Serve(ln)
	defer app.Shutdown()

	var seed [32]byte
	rand.Read(seed[:])
	kp, _ := sr25519.KeypairFromSeed(seed)
	rsaKey, _ := rsakey.Generate(2048, rand.Reader)
	miner, _, _ := ss58.Decode("5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty")
	keys := keystore.NewMemory(keystore.MemoryOptions{})
	h, err := New(Options{
		MinerHotkey: miner,
		RSAKey:      rsaKey,
		Keys:        keys,
		Nonces:      replay.NewMemory(replay.MemoryOptions{MaxMemory: 256 << 20}),
		Stakes:      fuzzStakes{kp.Public(): 5000},
		Default:     Route{Mode: ModeEncrypted, Response: ResponseAuto},
		UpstreamURL: "http://" + ln.Addr().String(),
		Metrics:     metrics.New(prometheus.NewRegistry(), metrics.Build{}, metrics.Gauges{}),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	var raw [32]byte
	rand.Read(raw[:])
	key, _ := fernet.NewKey(raw[:])
	uuid := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	now := time.Now()
	keys.Put(&keystore.Entry{Validator: kp.Public(), UUID: uuid, Key: key}, now)
	validator := ss58.Encode(kp.Public(), ss58.Bittensor)
	minerAddr := "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
	pad := make([]byte, size-60)
	for i := range pad {
		pad[i] = 'a'
	}

	n := b.N
	reqs := make([]*fasthttp.Request, n)
	for i := range reqs {
		nc := fmt.Sprintf("%d_b%09d", now.UnixNano(), i)
		sig, _ := kp.Sign([]byte(nc+":"+minerAddr+":"+uuid), rand.Reader)
		body := fmt.Sprintf(`{"pad":"%s","nonce":"%s"}`, pad, nc)
		var iv [16]byte
		rand.Read(iv[:])
		r := new(fasthttp.Request)
		r.Header.SetMethod("POST")
		r.SetRequestURI("/echo")
		r.Header.Set("validator-hotkey", validator)
		r.Header.Set("miner-hotkey", minerAddr)
		r.Header.Set("nonce", nc)
		r.Header.Set("signature", "0x"+hex.EncodeToString(sig[:]))
		r.Header.Set("symmetric-key-uuid", uuid)
		r.Header.SetContentType("application/octet-stream")
		if encryptResponse {
			r.Header.Set("X-Fiber-Response-Encryption", "fernet")
		}
		r.SetBody(key.Encrypt(nil, []byte(body), now.Unix(), &iv))
		reqs[i] = r
	}
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	var ctx fasthttp.RequestCtx
	b.SetBytes(int64(size))
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	for i := range n {
		ctx.Init(reqs[i], addr, nil)
		h.Serve(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	b.StopTimer()
	// CPU of the whole process (handler and the in-process echo app) per
	// request: what the wall time hides behind loopback round trips.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(n), "cpu-ns/op")
}

// processCPU returns the user+system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
