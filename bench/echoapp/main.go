// Command echoapp is the app behind every target of bench/run.sh: a
// fasthttp server that answers each request with its own body, as
// application/json (an empty body gets {}). It does as little as an app
// can, so that what the comparison measures in front of it is the proxy,
// and it is the target measured directly as the ceiling. It is a
// measurement tool, not part of fibergate.
//
//	echoapp -listen 127.0.0.1:19000
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/fibergate/fibergate/bench/internal/floor"
	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:19000", "the address to listen on")
	flag.Parse()
	if err := run(*listen); err != nil {
		fmt.Fprintln(os.Stderr, "echoapp:", err)
		os.Exit(1)
	}
}

func run(listen string) error { return floor.Run("echoapp", listen, echo, "") }

// echo answers with the request's body.
func echo(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	if body := ctx.PostBody(); len(body) > 0 {
		ctx.SetBody(body)
		return
	}
	ctx.SetBodyString("{}")
}
