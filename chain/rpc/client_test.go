package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// request is what the test node reads from a call.
type request struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params []any           `json:"params"`
}

// answerFunc returns the raw message(s) the test node sends for one call;
// none to stay silent.
type answerFunc func(req request) []string

// node is a test JSON-RPC node speaking HTTP and WebSocket on one port.
type node struct {
	srv    *httptest.Server
	answer answerFunc
	// order, when set, holds WebSocket answers back until this many calls
	// have arrived and then sends them in reverse.
	order int
}

func newNode(t *testing.T, answer answerFunc) *node {
	t.Helper()
	n := &node{answer: answer}
	n.srv = httptest.NewServer(http.HandlerFunc(n.serve))
	t.Cleanup(n.srv.Close)
	return n
}

func (n *node) httpURL() string { return n.srv.URL }
func (n *node) wsURL() string   { return "ws" + strings.TrimPrefix(n.srv.URL, "http") }

func (n *node) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "" {
		n.serveWS(w, r)
		return
	}
	var req request
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	out := n.answer(req)
	if len(out) == 0 {
		<-r.Context().Done() // never answer
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, out[0])
}

func (n *node) serveWS(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	ctx := r.Context()
	var held [][]string
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		var req request
		if json.Unmarshal(data, &req) != nil {
			continue
		}
		out := n.answer(req)
		if n.order > 0 {
			held = append(held, out)
			if len(held) < n.order {
				continue
			}
			for i := len(held) - 1; i >= 0; i-- {
				for _, m := range held[i] {
					c.Write(ctx, websocket.MessageText, []byte(m))
				}
			}
			held = nil
			continue
		}
		for _, m := range out {
			if m == "CLOSE" {
				c.Close(websocket.StatusGoingAway, "bye")
				return
			}
			c.Write(ctx, websocket.MessageText, []byte(m))
		}
	}
}

func result(req request, v string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":%s}`, req.ID, v)
}

// echo answers every call with its method name and first param.
func echo(req request) []string {
	b, _ := json.Marshal(fmt.Sprintf("%s %v", req.Method, req.Params))
	return []string{result(req, string(b))}
}

func dial(t *testing.T, url string, opts Options) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("Dial(%s): %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func call(c *Client, timeout time.Duration, method string, params ...any) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var s string
	err := c.Call(ctx, method, &s, params...)
	return s, err
}

// Both transports: a result, an error object, null, bad answers, too
// large, silence.
func TestCall(t *testing.T) {
	big := strings.Repeat("a", 2000)
	n := newNode(t, func(req request) []string {
		switch req.Method {
		case "ok":
			return echo(req)
		case "node_error":
			return []string{fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"error":{"code":4003,"message":"Client error: Api called for an unknown Block: State already discarded"}}`, req.ID)}
		case "null":
			return []string{result(req, "null")}
		case "not_json":
			return []string{"<html>busy</html>"}
		case "no_result":
			return []string{fmt.Sprintf(`{"jsonrpc":"2.0","id":%s}`, req.ID)}
		case "old_version":
			return []string{fmt.Sprintf(`{"jsonrpc":"1.0","id":%s,"result":"x"}`, req.ID)}
		case "wrong_type":
			return []string{result(req, "42")}
		case "big":
			return []string{result(req, `"`+big+`"`)}
		case "silent":
			return nil
		}
		return []string{fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"error":{"code":-32601,"message":"Method not found"}}`, req.ID)}
	})
	for _, transport := range []struct{ name, url string }{{"http", n.httpURL()}, {"ws", n.wsURL()}} {
		t.Run(transport.name, func(t *testing.T) {
			c := dial(t, transport.url, Options{MaxResponse: 1500})
			cases := []struct {
				method string
				want   string
				err    error
				rpc    int // a *Error with this code
			}{
				{method: "ok", want: "ok [0x0100 <nil>]"},
				{method: "node_error", rpc: 4003},
				{method: "unknown", rpc: -32601},
				{method: "null", err: ErrNull},
				{method: "no_result", err: ErrBadResponse},
				{method: "old_version", err: ErrBadResponse},
				{method: "wrong_type", err: ErrBadResponse},
				{method: "silent", err: context.DeadlineExceeded},
			}
			if transport.name == "http" {
				// Over WebSocket a message that is not JSON is skipped
				// like any unmatched message; the call then times out.
				cases = append(cases, struct {
					method string
					want   string
					err    error
					rpc    int
				}{method: "not_json", err: ErrBadResponse})
			}
			for _, tc := range cases {
				got, err := call(c, 300*time.Millisecond, tc.method, "0x0100", nil)
				var re *Error
				switch {
				case tc.rpc != 0:
					if !errors.As(err, &re) || re.Code != tc.rpc {
						t.Errorf("%s: got %q, %v, want node error %d", tc.method, got, err, tc.rpc)
					}
				case tc.err != nil:
					if !errors.Is(err, tc.err) {
						t.Errorf("%s: got %q, %v, want %v", tc.method, got, err, tc.err)
					}
				default:
					if err != nil || got != tc.want {
						t.Errorf("%s: got %q, %v, want %q", tc.method, got, err, tc.want)
					}
				}
			}
			// Too large last: over WebSocket it ends the connection.
			if _, err := call(c, 5*time.Second, "big"); !errors.Is(err, ErrTooLarge) {
				t.Errorf("big: got %v, want ErrTooLarge", err)
			}
			if transport.name == "ws" {
				if _, err := call(c, 5*time.Second, "ok"); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrTooLarge) {
					t.Errorf("after a too-large message: got %v, want ErrClosed naming ErrTooLarge", err)
				}
			}
		})
	}
}

// Over WebSocket, answers are matched by id whatever their order, and
// messages for no waiting call are skipped.
func TestWebSocketMatchesIDs(t *testing.T) {
	n := newNode(t, func(req request) []string {
		return []string{
			`{"jsonrpc":"2.0","method":"chain_newHead","params":{"result":"0x00"}}`,
			`{"jsonrpc":"2.0","id":999999,"result":"stray"}`,
			`{"jsonrpc":"2.0","id":"1","result":"string id"}`,
			`not json`,
			echo(req)[0],
		}
	})
	n.order = 8
	c := dial(t, n.wsURL(), Options{})
	var wg sync.WaitGroup
	for i := range n.order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fmt.Sprintf("m%d [%d]", i, i)
			got, err := call(c, 10*time.Second, fmt.Sprintf("m%d", i), i)
			if err != nil || got != want {
				t.Errorf("call %d: got %q, %v, want %q", i, got, err, want)
			}
		}()
	}
	wg.Wait()
}

func TestWebSocketEnds(t *testing.T) {
	n := newNode(t, func(req request) []string {
		if req.Method == "close" {
			return []string{"CLOSE"}
		}
		return nil
	})

	t.Run("node closes while a call waits", func(t *testing.T) {
		c := dial(t, n.wsURL(), Options{})
		if _, err := call(c, 10*time.Second, "close"); !errors.Is(err, ErrClosed) {
			t.Errorf("got %v, want ErrClosed", err)
		}
		if _, err := call(c, 10*time.Second, "close"); !errors.Is(err, ErrClosed) {
			t.Errorf("next call: got %v, want ErrClosed at once", err)
		}
	})
	t.Run("Close while a call waits", func(t *testing.T) {
		c := dial(t, n.wsURL(), Options{})
		errc := make(chan error, 1)
		go func() {
			_, err := call(c, 10*time.Second, "silent")
			errc <- err
		}()
		time.Sleep(50 * time.Millisecond)
		c.Close()
		c.Close() // idempotent
		select {
		case err := <-errc:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("got %v, want ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the call did not return after Close")
		}
	})
}

func TestDialErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	// A node that accepts the connection and then never says a word.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()

	for _, tc := range []struct {
		url string
		err error
	}{
		{"ftp://node:9944", ErrScheme},
		{"node:9944", ErrScheme},
		{"ws://", ErrScheme},
		{"ws://" + dead, nil},
		{"ws://" + mute.Addr().String(), context.DeadlineExceeded},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		c, err := Dial(ctx, tc.url, Options{})
		cancel()
		if err == nil {
			c.Close()
			t.Errorf("Dial(%s): got no error", tc.url)
			continue
		}
		if tc.err != nil && !errors.Is(err, tc.err) {
			t.Errorf("Dial(%s): got %v, want %v", tc.url, err, tc.err)
		}
	}

	// Over HTTP the connection is made at each call.
	c := dial(t, "http://"+dead, Options{})
	if _, err := call(c, 5*time.Second, "ok"); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("HTTP call to a closed port: got %v, want a connection error", err)
	}
	c = dial(t, "http://"+mute.Addr().String(), Options{})
	if _, err := call(c, 200*time.Millisecond, "ok"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("HTTP call to a mute node: got %v, want the deadline", err)
	}
}

// The API key in a URL's query stays out of errors.
func TestDialRedactsQuery(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = Dial(ctx, "ws://user:pw@"+dead+"/ws?apikey=s3cret", Options{})
	if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "pw") {
		t.Errorf("got %v, want an error without the key", err)
	}
}

func TestHTTPNullID(t *testing.T) {
	n := newNode(t, func(req request) []string {
		switch req.Method {
		case "error_null_id":
			return []string{`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`}
		case "error_no_id":
			return []string{`{"jsonrpc":"2.0","error":{"code":4003,"message":"State already discarded"}}`}
		case "result_null_id":
			return []string{`{"jsonrpc":"2.0","id":null,"result":"x"}`}
		}
		return []string{`{"jsonrpc":"2.0","id":7777,"error":{"code":1,"message":"not yours"}}`}
	})
	c := dial(t, n.httpURL(), Options{})
	var re *Error
	if _, err := call(c, 5*time.Second, "error_null_id"); !errors.As(err, &re) || re.Code != -32700 {
		t.Errorf("error with a null id: got %v, want the node error", err)
	}
	if _, err := call(c, 5*time.Second, "error_no_id"); !errors.As(err, &re) || re.Code != 4003 {
		t.Errorf("error with no id: got %v, want the node error", err)
	}
	if _, err := call(c, 5*time.Second, "result_null_id"); !errors.Is(err, ErrBadResponse) {
		t.Errorf("result with a null id: got %v, want ErrBadResponse", err)
	}
	if _, err := call(c, 5*time.Second, "other"); !errors.Is(err, ErrBadResponse) {
		t.Errorf("error for another id: got %v, want ErrBadResponse", err)
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{Code: 4003, Message: strings.Repeat("x", 2000)}
	if s := e.Error(); len(s) > 600 || !strings.HasPrefix(s, "node error 4003: xxx") {
		t.Errorf("got %d bytes %q..., want a bounded message", len(s), s[:40])
	}
}

// FuzzParseHTTPAnswer checks that no answer panics, and that an accepted
// one is either the node's error or a result for the call's id.
func FuzzParseHTTPAnswer(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"result":"0x0110"}`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":1,"message":"x","data":[1]}}`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"result":null}`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":1e0,"result":{}}`))
	f.Add([]byte(`[{"jsonrpc":"2.0","id":1,"result":1}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := parseHTTPAnswer(data, http.StatusOK, 1)
		if err != nil {
			if !errors.Is(err, ErrBadResponse) {
				t.Fatalf("got %v, want ErrBadResponse", err)
			}
			return
		}
		if id, ok := idOf(resp.ID); resp.Error == nil && (!ok || id != 1) {
			t.Fatalf("accepted a result for id %s", resp.ID)
		}
		var s json.RawMessage
		_ = resp.into(&s)
	})
}
