//go:build unix

package conformance_test

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/fibergate/fibergate/client"
	"github.com/fibergate/fibergate/internal/e2etest"
)

// appSpec is one app server of the suite.
type appSpec struct {
	name string
	// start starts the app on a free loopback port, stopped in
	// t.Cleanup, and returns its address.
	start func(t *testing.T) string
	// unsupported names the response-matrix cases the framework cannot
	// produce, with the reason.
	unsupported map[string]string
	// readsGETBody is set when the app reads the body of a GET.
	readsGETBody bool
	// maxBurst is how many requests at once the app serves within the
	// suite's timeouts; 0 means plenty. Python's socketserver listens
	// with a backlog of 5.
	maxBurst int
}

// Where the runtimes are. Debian's python3 has the python3-uvicorn and
// python3-starlette packages; a python3 earlier on PATH (pyenv) may not.
const (
	debianPython = "/usr/bin/python3"
	nodeBin      = "/usr/bin/node"
)

var apps = []appSpec{
	{name: "go", start: startGoApp, readsGETBody: true},
	{
		name:  "starlette",
		start: pythonApp("starlette_app.py", "uvicorn", "starlette"),
		unsupported: map[string]string{
			"early-hints":     "uvicorn 0.17 has no way to send a 1xx answer",
			"close-delimited": "uvicorn chunks every HTTP/1.1 answer without a length",
			"idle-close":      "ASGI gives an app no way to close a connection without answering",
		},
		readsGETBody: true,
	},
	// http.server leaves GET bodies unread, as handlers written on it
	// usually do.
	{name: "httpserver", start: pythonApp("httpserver_app.py"), maxBurst: 20},
	{
		name:         "wsgiref",
		start:        pythonApp("wsgiref_app.py"),
		unsupported:  map[string]string{"idle-close": "wsgiref closes every connection after one answer"},
		readsGETBody: true,
		maxBurst:     10, // one request at a time, and a backlog of 5
	},
	{name: "node", start: nodeApp, readsGETBody: true},
}

// missingRuntime fails the test on CI, where every runtime must be
// installed (.ci/run installs them), and skips it elsewhere.
func missingRuntime(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("runtime missing on CI: %s", why)
	}
	t.Skipf("runtime missing: %s", why)
}

// pythonApp returns a start function running apps/script with Debian's
// python3, after checking that it can import modules.
func pythonApp(script string, modules ...string) func(t *testing.T) string {
	return func(t *testing.T) string {
		t.Helper()
		if _, err := os.Stat(debianPython); err != nil {
			missingRuntime(t, debianPython+" not found (apt-get install python3)")
		}
		for _, m := range modules {
			if out, err := exec.Command(debianPython, "-c", "import "+m).CombinedOutput(); err != nil {
				missingRuntime(t, debianPython+" cannot import "+m+" (apt-get install python3-"+m+"): "+string(out))
			}
		}
		return startScript(t, debianPython, script)
	}
}

func nodeApp(t *testing.T) string {
	t.Helper()
	bin := nodeBin
	if _, err := os.Stat(bin); err != nil {
		p, lerr := exec.LookPath("node")
		if lerr != nil {
			missingRuntime(t, "node not found (apt-get install nodejs)")
		}
		bin = p
	}
	return startScript(t, bin, "node_app.js")
}

// startScript runs interpreter apps/script HOST PORT on a free loopback
// port and waits until it listens.
func startScript(t *testing.T, interpreter, script string) string {
	t.Helper()
	addr := e2etest.FreeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(interpreter, filepath.Join(e2etest.Root(), "conformance", "apps", script), host, port)
	cmd.Env = e2etest.Env("PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1")
	e2etest.Start(t, script, cmd).WaitListening(t, addr)
	return addr
}

// appCount asks the app directly how many requests it has served.
func appCount(t *testing.T, appAddr string) int {
	t.Helper()
	status, body := e2etest.Get("http://" + appAddr + "/__conformance/count")
	if status != http.StatusOK {
		t.Fatalf("app count: got %d %q", status, body)
	}
	var c struct{ Count int }
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		t.Fatalf("app count %q: %v", body, err)
	}
	return c.Count
}

// env is one app with a fibergate in front of it and a validator client
// that has made its handshake.
type env struct {
	app     appSpec
	appAddr string
	fg      *fibergate
	cl      *client.Client
	checks  int // alive checks so far, to tell their answers apart
}

// eachApp runs fn once per app, as subtest app, with the app and a
// fibergate in front of it started for that subtest.
func eachApp(t *testing.T, o fgOptions, fn func(t *testing.T, e *env)) {
	for _, a := range apps {
		t.Run(a.name, func(t *testing.T) {
			addr := a.start(t)
			fg := startFibergate(t, addr, o)
			fn(t, &env{app: a, appAddr: addr, fg: fg, cl: e2etest.Alice.Handshaken(t, fg.addr)})
		})
	}
}

// skipUnsupported skips a case the app cannot produce.
func (e *env) skipUnsupported(t *testing.T, c string) {
	t.Helper()
	if why, ok := e.app.unsupported[c]; ok {
		t.Skipf("%s: %s", e.app.name, why)
	}
}

// count is appCount for e's app.
func (e *env) count(t *testing.T) int {
	t.Helper()
	return appCount(t, e.appAddr)
}

// checkAlive is run after every case: fibergate must still be running and
// a plain request on a new connection must get its own answer.
func (e *env) checkAlive(t *testing.T) {
	t.Helper()
	if e.fg.proc.Exited() {
		t.Fatalf("fibergate exited: %v", e.fg.proc.Cmd.ProcessState)
	}
	e.checks++
	q := "alive=" + strconv.Itoa(e.checks)
	x := roundTrip(t, e.fg.addr, rawRequest("GET", "/v1/echo?"+q, nil, nil), "GET")
	if x.err != nil || x.resp.StatusCode != http.StatusOK {
		t.Fatalf("after the case, a plain request failed: %s", x.describe())
	}
	got := decodeEcho(t, x.body)
	if got.Query != q {
		t.Fatalf("after the case, a plain request got another request's answer: query %q, want %q", got.Query, q)
	}
	if e.fg.proc.Exited() {
		t.Fatalf("fibergate exited: %v", e.fg.proc.Cmd.ProcessState)
	}
}
