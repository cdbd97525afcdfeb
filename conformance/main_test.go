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
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// fibergateBin is the binary TestMain builds once for every test, and
// repoRoot the module root it was built from.
var fibergateBin, repoRoot string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	root, err := findRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = root
	// CONFORMANCE_FIBERGATE_BIN runs the suite against a binary built
	// elsewhere (a release, an older commit) instead of this tree's.
	if bin := os.Getenv("CONFORMANCE_FIBERGATE_BIN"); bin != "" {
		fibergateBin = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "fibergate-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "making a temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "fibergate")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := exec.Command(goTool, "build", "-trimpath", "-o", bin, "./cmd/fibergate")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building fibergate: %v\n%s", err, out)
		return 1
	}
	fibergateBin = bin
	return m.Run()
}

// findRoot walks up from the working directory to the folder holding
// go.mod.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
