//go:build unix

package conformance_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/fibergate/fibergate/internal/e2etest"
)

// lull is longer than every app's keep-alive timeout here: uvicorn's and
// Node's default 5 s (Go's net/http and http.server keep connections
// until the client closes them).
const lull = 6500 * time.Millisecond

// TestKeepAliveLull drives each app with a burst of requests, a pause
// longer than the app's keep-alive timeout, and another burst: the app
// closes the connections fibergate had pooled, and no request may fail
// for it. The apps run side by side.
func TestKeepAliveLull(t *testing.T) {
	for _, a := range apps {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			addr := a.start(t)
			fg := startFibergate(t, addr, fgOptions{})
			e := &env{app: a, appAddr: addr, fg: fg, cl: e2etest.Alice.Handshaken(t, fg.addr)}
			for round, n := range []int{50, 50, 200} {
				if a.maxBurst > 0 {
					n = min(n, a.maxBurst)
				}
				if round > 0 {
					time.Sleep(lull)
				}
				if bad := burst(t, e, n); len(bad) > 0 {
					t.Errorf("burst %d after a %v pause: %d of %d requests failed, first: %s", round, lull, len(bad), n, bad[0])
				}
			}
		})
	}
}

// burst sends n requests at once, half encrypted POSTs and half public
// GETs, each on its own connection, and returns a line for each that did
// not get 200.
func burst(t *testing.T, e *env, n int) []string {
	t.Helper()
	reqs := make([][]byte, n)
	for i := range reqs {
		if i%2 == 0 {
			reqs[i] = e.encRequest(t, "POST", "/enc/echo", []byte(fmt.Sprintf(`{"i":%d}`, i)))
		} else {
			reqs[i] = rawRequest("GET", fmt.Sprintf("/v1/echo?i=%d", i), nil, nil)
		}
	}
	var mu sync.Mutex
	var bad []string
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			method := "GET"
			if i%2 == 0 {
				method = "POST"
			}
			status, err := sendOnce(e.fg.addr, req, method)
			if err != nil || status != http.StatusOK {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("%s #%d: status %d, %v", method, i, status, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return bad
}

// sendOnce writes req on a new connection and returns the answer's status.
func sendOnce(addr string, req []byte, method string) (int, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(e2etest.IOTimeout))
	if _, err := c.Write(req); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
