package rpc

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
)

// DefaultMaxResponse bounds one response when Options.MaxResponse is not
// positive. A 1024-uid subnet's metagraph is about 400 KB of JSON; 64 MiB
// leaves room for the largest subnets and still bounds a hostile node.
const DefaultMaxResponse = 64 << 20

// Sentinel errors. Errors from Call wrap one of these, a *Error, the
// context's error, or a transport error.
var (
	// ErrScheme means the URL is not ws://, wss://, http:// or https://.
	ErrScheme = errors.New("want a ws://, wss://, http:// or https:// URL")
	// ErrTooLarge means a response was larger than the size limit.
	ErrTooLarge = errors.New("response larger than the limit")
	// ErrBadResponse means the answer is not a JSON-RPC 2.0 response to
	// the call: not JSON, no result and no error, another id, a result of
	// the wrong type.
	ErrBadResponse = errors.New("not a JSON-RPC response to the call")
	// ErrNull means the result was JSON null, which the node answers for
	// things it does not know (a block hash of an unknown block).
	ErrNull = errors.New("result is null")
	// ErrClosed means the client was closed, or the WebSocket connection
	// ended, before the answer came.
	ErrClosed = errors.New("connection closed")
)

// Error is a JSON-RPC error object returned by the node.
type Error struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *Error) Error() string {
	msg := e.Message
	if len(msg) > 512 {
		msg = msg[:512] + "..."
	}
	return "node error " + strconv.Itoa(e.Code) + ": " + msg
}

// Options configures a Client.
type Options struct {
	// MaxResponse bounds the size of one response in bytes;
	// DefaultMaxResponse when not positive.
	MaxResponse int64
	// HTTPClient makes the HTTP calls and the WebSocket handshake. Calls
	// are bounded by their contexts, so it needs no timeout of its own.
	// http.DefaultClient when nil.
	HTTPClient *http.Client
}

// Client calls one node. It is safe for concurrent use.
type Client struct {
	url    string
	max    int64
	hc     *http.Client
	nextID atomic.Uint64

	// WebSocket only.
	conn      *websocket.Conn
	mu        sync.Mutex
	pending   map[uint64]chan response
	closed    bool
	done      chan struct{} // closed when the reader stops
	readErr   error         // why it stopped; set before done is closed
	stop      context.CancelFunc
	closeOnce sync.Once
}

// response is one JSON-RPC message from the node. Method is set on
// notifications, which carry no id of a call.
type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  inPlace         `json:"result"`
	Error   *Error          `json:"error"`
	Method  string          `json:"method"`
}

// inPlace is a JSON value kept where it lies in the answer's buffer, which
// the client owns (one per answer) and never reads again once the answer
// is parsed: a metagraph answer can be tens of MB, and a copy of it would
// double what a call takes. (json.Unmarshal hands UnmarshalJSON a slice of
// its input.)
type inPlace []byte

func (v *inPlace) UnmarshalJSON(b []byte) error {
	*v = b
	return nil
}

// HexBytes is a result that is a 0x-prefixed hex string, as state_call
// answers, decoded into the answer's own buffer: its bytes take no memory
// beyond the answer's.
type HexBytes []byte

// UnmarshalJSON decodes the hex string b in place. It is meant for the
// results Call decodes, whose buffer nothing reads afterwards.
// A value that is not a string is an error of the answer's shape
// (ErrBadResponse, from Call); a string that is not 0x and hex is ErrNotHex.
func (h *HexBytes) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' {
		return errors.New("not a string")
	}
	if len(b) < 4 || b[1] != '0' || b[2] != 'x' {
		return ErrNotHex
	}
	src := b[3 : len(b)-1]
	if len(src)%2 != 0 {
		return ErrNotHex
	}
	// Each output byte is written at or before the first input byte it
	// came from, so decoding over the input is safe.
	n, err := hex.Decode(b[:len(src)/2], src)
	if err != nil {
		return ErrNotHex
	}
	*h = b[:n]
	return nil
}

// ErrNotHex is the error of a HexBytes result that is a string but not a
// 0x-prefixed hex string.
var ErrNotHex = errors.New("not a 0x-prefixed hex string")

// Dial returns a client for the node at rawURL. For ws:// and wss:// it
// opens the WebSocket connection now, within ctx; for http:// and https://
// it connects at each call. The caller must Close the client.
func Dial(ctx context.Context, rawURL string, opts Options) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("dialing node: %q: %w", rawURL, ErrScheme)
	}
	c := &Client{url: rawURL, max: opts.MaxResponse, hc: opts.HTTPClient}
	if c.max <= 0 {
		c.max = DefaultMaxResponse
	}
	if c.hc == nil {
		c.hc = http.DefaultClient
	}
	switch u.Scheme {
	case "http", "https":
		return c, nil
	case "ws", "wss":
	default:
		return nil, fmt.Errorf("dialing node: %q: %w", rawURL, ErrScheme)
	}
	conn, _, err := websocket.Dial(ctx, rawURL, &websocket.DialOptions{HTTPClient: c.hc})
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("dialing node %s: %w", redact(u), stripURL(err))
	}
	conn.SetReadLimit(c.max)
	rctx, stop := context.WithCancel(context.Background())
	c.conn, c.stop = conn, stop
	c.pending = make(map[uint64]chan response)
	c.done = make(chan struct{})
	go c.readLoop(rctx)
	return c, nil
}

// redact returns the URL without its query and credentials, which may hold
// an API key.
func redact(u *url.URL) string {
	v := *u
	v.User, v.RawQuery, v.Fragment = nil, "", ""
	return v.String()
}

// stripURL returns the cause inside a *url.Error, whose text would repeat
// the URL with its query.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Close ends the WebSocket connection; calls waiting for an answer return
// ErrClosed. It is idempotent.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.stop()
		c.conn.CloseNow()
		<-c.done
	})
	return nil
}

// Call sends method with params and decodes the result into result (a
// pointer, or nil to discard it). It returns a *Error when the node answers
// with an error, ErrNull when the result is null, and ctx's error when ctx
// ends first.
func (c *Client) Call(ctx context.Context, method string, result any, params ...any) error {
	if params == nil {
		params = []any{}
	}
	id := c.nextID.Add(1)
	req, err := json.Marshal(struct {
		JSONRPC string `json:"jsonrpc"`
		ID      uint64 `json:"id"`
		Method  string `json:"method"`
		Params  []any  `json:"params"`
	}{"2.0", id, method, params})
	if err != nil {
		return fmt.Errorf("calling %s: %w", method, err)
	}
	var resp response
	if c.conn != nil {
		resp, err = c.callWS(ctx, id, req)
	} else {
		resp, err = c.callHTTP(ctx, id, req)
	}
	if err != nil {
		return fmt.Errorf("calling %s: %w", method, err)
	}
	if err := resp.into(result); err != nil {
		return fmt.Errorf("calling %s: %w", method, err)
	}
	return nil
}

// into checks a response matched to a call and decodes its result.
func (r *response) into(result any) error {
	switch {
	case r.JSONRPC != "2.0":
		return fmt.Errorf("%w: jsonrpc is not \"2.0\"", ErrBadResponse)
	case r.Error != nil:
		return r.Error
	case len(r.Result) == 0:
		return fmt.Errorf("%w: neither result nor error", ErrBadResponse)
	case string(r.Result) == "null":
		return ErrNull
	case result == nil:
		return nil
	}
	if err := json.Unmarshal(r.Result, result); err != nil {
		return fmt.Errorf("%w: result: %w", ErrBadResponse, err)
	}
	return nil
}

// idOf returns the response's id as a number, if it is one.
func idOf(raw json.RawMessage) (uint64, bool) {
	n, err := strconv.ParseUint(string(raw), 10, 64)
	return n, err == nil
}

func (c *Client) callHTTP(ctx context.Context, id uint64, body []byte) (response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	res, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return response{}, ctx.Err()
		}
		return response{}, stripURL(err)
	}
	defer res.Body.Close()
	if res.ContentLength > c.max {
		return response{}, fmt.Errorf("%w of %d bytes", ErrTooLarge, c.max)
	}
	data, err := readAnswer(res.Body, res.ContentLength, c.max)
	if err != nil {
		if ctx.Err() != nil {
			return response{}, ctx.Err()
		}
		if errors.Is(err, ErrTooLarge) {
			return response{}, fmt.Errorf("%w of %d bytes", ErrTooLarge, c.max)
		}
		return response{}, fmt.Errorf("reading the answer: %w", err)
	}
	return parseHTTPAnswer(data, res.StatusCode, id)
}

// parseHTTPAnswer parses the body of an HTTP answer to call id.
func parseHTTPAnswer(data []byte, status int, id uint64) (response, error) {
	var resp response
	if err := json.Unmarshal(data, &resp); err != nil {
		if status != http.StatusOK {
			return response{}, fmt.Errorf("%w: HTTP status %d", ErrBadResponse, status)
		}
		return response{}, fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	// A node that cannot tell which call an error belongs to answers with
	// a null id; over HTTP there is only one call it can be.
	if got, ok := idOf(resp.ID); !ok || got != id {
		if resp.Error == nil || (resp.ID != nil && string(resp.ID) != "null") {
			return response{}, fmt.Errorf("%w: id %s, want %d", ErrBadResponse, truncate(resp.ID), id)
		}
	}
	return resp, nil
}

// readChunk is the size of the pieces an answer of unknown length is read
// in before it is put together.
const readChunk = 1 << 20

// readAnswer reads all of r, at most max bytes (ErrTooLarge beyond). When
// size (the Content-Length) is known the buffer is that size; otherwise
// the answer is read in pieces of readChunk and put together once at the
// end, so memory peaks at twice the answer, not at the several copies a
// buffer growing by doubling leaves behind.
func readAnswer(r io.Reader, size, max int64) ([]byte, error) {
	if size >= 0 {
		buf := make([]byte, size)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	var pieces [][]byte
	var total int64
	for {
		p := make([]byte, readChunk)
		n, err := io.ReadFull(r, p)
		total += int64(n)
		if total > max {
			return nil, ErrTooLarge
		}
		if n > 0 {
			pieces = append(pieces, p[:n])
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(pieces) == 1 {
		return pieces[0], nil
	}
	out := make([]byte, 0, total)
	for i, p := range pieces {
		out = append(out, p...)
		pieces[i] = nil
	}
	return out, nil
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

func (c *Client) callWS(ctx context.Context, id uint64, req []byte) (response, error) {
	ch := make(chan response, 1)
	c.mu.Lock()
	if c.closed || c.readErr != nil {
		err := c.readErr
		c.mu.Unlock()
		return response{}, errors.Join(ErrClosed, err)
	}
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()

	if err := c.conn.Write(ctx, websocket.MessageText, req); err != nil {
		if ctx.Err() != nil {
			return response{}, ctx.Err()
		}
		return response{}, fmt.Errorf("%w: %v", ErrClosed, err)
	}
	select {
	case resp := <-ch:
		return resp, nil
	case <-c.done:
		// The answer may have been delivered just before the reader stopped.
		select {
		case resp := <-ch:
			return resp, nil
		default:
		}
		c.mu.Lock()
		err := c.readErr
		c.mu.Unlock()
		return response{}, err
	case <-ctx.Done():
		return response{}, ctx.Err()
	}
}

// readLoop delivers each answer to the call waiting for its id, until the
// connection fails or the client is closed. Answers to no waiting call
// (late, unknown ids, notifications) are dropped.
func (c *Client) readLoop(ctx context.Context) {
	var err error
	for {
		var data []byte
		var r io.Reader
		if _, r, err = c.conn.Reader(ctx); err == nil {
			data, err = readAnswer(r, -1, c.max)
		}
		if err != nil {
			break
		}
		var resp response
		if json.Unmarshal(data, &resp) != nil || resp.Method != "" {
			continue
		}
		id, ok := idOf(resp.ID)
		if !ok {
			continue
		}
		c.mu.Lock()
		ch := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if ch != nil {
			ch <- resp // buffered, and each id is delivered once
		}
	}
	switch {
	case errors.Is(err, websocket.ErrMessageTooBig), errors.Is(err, ErrTooLarge):
		err = fmt.Errorf("%w of %d bytes", ErrTooLarge, c.max)
	default:
		err = fmt.Errorf("%w: %v", ErrClosed, err)
	}
	c.mu.Lock()
	c.readErr = err
	c.mu.Unlock()
	close(c.done)
}
