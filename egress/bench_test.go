package egress

import (
	"crypto/rand"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/valyala/fasthttp"
)

// benchMiner is a far end that costs as little as it can: it serves a
// public key, accepts any exchange and echoes every other request's body,
// checking nothing, so a benchmark measures egress alone.
func benchMiner(b *testing.B) string {
	b.Helper()
	priv, err := rsakey.Generate(2048, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	pem, _ := rsakey.PublicPEM(&priv.PublicKey)
	pk, _ := json.Marshal(map[string]string{"public_key": string(pem)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/public-encryption-key":
			ctx.SetContentType("application/json")
			ctx.SetBody(pk)
		case "/exchange-symmetric-key":
			ctx.SetBodyString(`{"status":"Symmetric key exchanged successfully"}`)
		default:
			ctx.SetContentType("application/json")
			ctx.SetBody(ctx.Request.Body())
		}
	}}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// benchServe runs b.N requests through h.Serve, as the server calls it,
// from a loopback caller.
func benchServe(b *testing.B, mode Mode, size int) {
	miner := keypair(b, "miner")
	dir, err := NewDirectory(DirectoryOptions{Static: []StaticMiner{{Hotkey: ss58Of(miner), Address: benchMiner(b), UID: 0}}, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(Options{Keypair: keypair(b, "validator"), Directory: dir, Mode: mode, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	body := `{"prompt": "` + strings.Repeat("x", max(size-14, 0)) + `"}`
	var ctx fasthttp.RequestCtx
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	uri := "/miner/" + ss58Of(miner) + "/echo"
	run := func() {
		var req fasthttp.Request
		req.Header.SetMethod(fasthttp.MethodPost)
		req.SetRequestURI(uri)
		req.Header.SetContentType("application/json")
		req.SetBodyString(body)
		ctx.Init(&req, remote, nil)
		h.Serve(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	run() // the key exchange
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for range b.N {
		run()
	}
}

func BenchmarkServeEncrypted256(b *testing.B) { benchServe(b, ModeEncrypted, 256) }
func BenchmarkServeEncrypted4K(b *testing.B)  { benchServe(b, ModeEncrypted, 4096) }
func BenchmarkServeSigned256(b *testing.B)    { benchServe(b, ModeSigned, 256) }
