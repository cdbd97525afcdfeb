//go:build unix

// Package conformance_test runs the real fibergate binary in front of real
// app servers (Go net/http, Starlette under uvicorn, Python's http.server
// and wsgiref, Node's http) and checks, case by case, what the app saw and
// what the validator got: paths, headers, bodies, and every odd answer an
// app can give. Each test starts each app once and one fibergate in front
// of it; the subtests are named app/case.
//
// The apps live in apps/; each serves the same endpoints: an echo of the
// request for any path, a response matrix selected by the path's last
// segment, and /__conformance/count, asked directly (never through
// fibergate) to tell whether a request reached the app at all.
//
// Run it with `go test -race ./conformance/`. It needs Debian's python3
// with python3-uvicorn and python3-starlette, and node; a missing runtime
// skips its app, or fails the test when CI=true. Set
// CONFORMANCE_FIBERGATE_BIN to check another fibergate binary than the one
// built from this tree.
package conformance_test

import (
	"os"
	"testing"

	"github.com/fibergate/fibergate/internal/e2etest"
)

func TestMain(m *testing.M) {
	// CONFORMANCE_FIBERGATE_BIN runs the suite against a binary built
	// elsewhere (a release, an older commit) instead of this tree's.
	if bin := os.Getenv("CONFORMANCE_FIBERGATE_BIN"); bin != "" {
		e2etest.UseBinary(bin)
	}
	os.Exit(e2etest.Main(m))
}
