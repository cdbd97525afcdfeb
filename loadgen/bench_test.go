package loadgen

import (
	"crypto/rand"
	"net"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/valyala/fasthttp"
)

// benchRequester returns a requester for one validator holding a random key,
// sending to addr, with a 256-byte payload.
func benchRequester(b *testing.B, addr string) *requester {
	b.Helper()
	ids, err := identities(DefaultSeedPrefix, 1)
	if err != nil {
		b.Fatal(err)
	}
	var raw [32]byte
	rand.Read(raw[:])
	key, err := fernet.NewKey(raw[:])
	if err != nil {
		b.Fatal(err)
	}
	o := &Options{URL: "http://" + addr, Miner: bobSS58, Size: 256}
	u, err := o.withDefaults()
	if err != nil {
		b.Fatal(err)
	}
	rq, err := newRequester(o, newTarget(u, 4, o.Timeout), []session{{identity: ids[0], uuid: []byte("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"), key: key}})
	if err != nil {
		b.Fatal(err)
	}
	return rq
}

// BenchmarkBuildRequest measures what signing ahead costs per request: the
// sr25519 signature, two nonces and the Fernet token of a 256-byte payload.
func BenchmarkBuildRequest(b *testing.B) {
	rq := benchRequester(b, "127.0.0.1:1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rq.build(1, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendRequest measures the generator's side of one pre-signed
// request against a loopback server that answers 200 at once: the cost in
// the measured loop, syscalls included (the trivial server's share too).
func BenchmarkSendRequest(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(`{"ok":true}`) }}
	go srv.Serve(ln)
	defer srv.Shutdown()
	rq := benchRequester(b, ln.Addr().String())
	items, err := rq.build(1024, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	w := newWorkers(1, rq.init)[0]
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rq.do(w, &items[i%len(items)], time.Now())
	}
	if w.t.ok != w.t.ops {
		b.Fatalf("%d of %d requests failed: %v %v", w.t.ops-w.t.ok, w.t.ops, w.t.statuses, w.t.transport)
	}
}

// BenchmarkBuildHandshake measures what preparing one key exchange costs:
// the RSA-OAEP wrap of a fresh key and the signature.
func BenchmarkBuildHandshake(b *testing.B) {
	ids, err := identities(DefaultSeedPrefix, 1)
	if err != nil {
		b.Fatal(err)
	}
	key := testRSA(b)
	o := &Options{URL: "http://127.0.0.1:1", Miner: bobSS58}
	if _, err := o.withDefaults(); err != nil {
		b.Fatal(err)
	}
	hs := &handshaker{opts: o, miner: []byte(bobSS58), ids: ids, pub: &key.PublicKey}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := hs.build(1, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
