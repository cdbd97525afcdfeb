package chaintest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/coder/websocket"
)

// exchange is a recorded request and its response.
type exchange struct {
	Request struct {
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	} `json:"request"`
	Response struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	} `json:"response"`
}

// fixture is the part of a chain fixture file a session is made of.
type fixture struct {
	Runtime struct {
		Recorded json.RawMessage `json:"recorded"`
	} `json:"runtime"`
	Request struct {
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	} `json:"request"`
	ResultHex string     `json:"result_hex"`
	Related   []exchange `json:"related"`
}

// Session is one recording session of a fixture file: its state_call, the
// runtime version, and the related exchanges.
type Session struct {
	// Head is the hash of the session's block: the answer of its recorded
	// chain_getBlockHash, or of chain_getHead when that is what it has.
	Head string
	// Runtime is the recorded state_getRuntimeVersion answer.
	Runtime json.RawMessage
	// Method and Args are the state_call's runtime API method and its
	// hex arguments without 0x; Result is the answer, 0x-prefixed hex.
	Method, Args, Result string
	related              []exchange
}

// LoadSession reads a chain fixture file.
func LoadSession(path string) (*Session, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading session: %w", err)
	}
	var f fixture
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("loading session %s: %w", path, err)
	}
	if f.Request.Method != "state_call" || len(f.Request.Params) < 2 {
		return nil, fmt.Errorf("loading session %s: the request is not a state_call", path)
	}
	s := &Session{Runtime: f.Runtime.Recorded, Result: f.ResultHex, related: f.Related}
	if err := json.Unmarshal(f.Request.Params[0], &s.Method); err != nil {
		return nil, fmt.Errorf("loading session %s: method: %w", path, err)
	}
	if err := json.Unmarshal(f.Request.Params[1], &s.Args); err != nil {
		return nil, fmt.Errorf("loading session %s: args: %w", path, err)
	}
	s.Args = normHex(s.Args)
	for _, e := range f.Related {
		if e.Request.Method == "chain_getBlockHash" || (e.Request.Method == "chain_getHead" && s.Head == "") {
			json.Unmarshal(e.Response.Result, &s.Head)
		}
	}
	if s.Head == "" {
		return nil, fmt.Errorf("loading session %s: no block hash recorded", path)
	}
	return s, nil
}

func normHex(s string) string { return strings.ToLower(strings.TrimPrefix(s, "0x")) }

// Handler answers one call instead of the recordings: it returns the
// result, or an error (a *Error goes out as it is, any other as an internal
// error), or ErrUseRecording to leave the call to the recordings. It may block
// until ctx ends to play a node that never answers.
type Handler func(ctx context.Context, method string, params []json.RawMessage) (result any, err error)

// ErrUseRecording is what a Handler returns to let the recordings answer.
var ErrUseRecording = errors.New("answer from the recordings")

// Error is a JSON-RPC error a Handler may return.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Message) }

// Server is a fake subtensor node. It is safe for concurrent use.
type Server struct {
	ln  net.Listener
	srv *http.Server

	mu       sync.Mutex
	head     string
	runtimes map[string]json.RawMessage // by block hash
	calls    map[string]string          // state_call key -> result
	related  map[string]exchange        // method + params -> exchange
	replace  [][2][32]byte
	handler  Handler
	log      []string // every request as method + params
	conns    map[*websocket.Conn]struct{}
}

// NewServer starts a node on 127.0.0.1 answering from sessions; the last
// session's block is the head.
func NewServer(sessions ...*Session) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting fake node: %w", err)
	}
	s := &Server{
		ln:       ln,
		runtimes: make(map[string]json.RawMessage),
		calls:    make(map[string]string),
		related:  make(map[string]exchange),
		conns:    make(map[*websocket.Conn]struct{}),
	}
	for _, ss := range sessions {
		s.Add(ss)
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve)}
	go s.srv.Serve(ln)
	return s, nil
}

// Add adds a session's answers and makes its block the head.
func (s *Server) Add(ss *Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.head = ss.Head
	s.runtimes[ss.Head] = ss.Runtime
	s.calls[callKey(ss.Method, ss.Args, ss.Head)] = ss.Result
	for _, e := range ss.related {
		s.related[relatedKey(e.Request.Method, e.Request.Params)] = e
	}
}

// AddStateCall adds an answer to state_call of method with args (hex, with
// or without 0x) at block hash.
func (s *Server) AddStateCall(method, args, hash, result string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[callKey(method, normHex(args), hash)] = result
}

// Replace makes every state_call answer carry to in place of each 32-byte
// occurrence of from, such as a recorded hotkey replaced by a test key
// whose secret is known.
func (s *Server) Replace(from, to [32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replace = append(s.replace, [2][32]byte{from, to})
}

// Handle sets a Handler consulted before the recordings; nil removes it.
func (s *Server) Handle(h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handler = h
}

// HTTPURL returns the node's HTTP endpoint.
func (s *Server) HTTPURL() string { return "http://" + s.ln.Addr().String() }

// WSURL returns the node's WebSocket endpoint.
func (s *Server) WSURL() string { return "ws://" + s.ln.Addr().String() }

// Requests returns every request received so far, each as its method and
// its params' JSON.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

// Close stops the node and drops its connections, so clients see it gone.
func (s *Server) Close() {
	s.srv.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.CloseNow()
	}
	s.mu.Unlock()
}

func callKey(method, args, hash string) string { return method + "\x00" + args + "\x00" + hash }

func relatedKey(method string, params []json.RawMessage) string {
	var b strings.Builder
	b.WriteString(method)
	for _, p := range params {
		b.WriteByte(0)
		var v any
		if json.Unmarshal(p, &v) == nil {
			c, _ := json.Marshal(v)
			b.Write(c)
		}
	}
	return b.String()
}

// request is one JSON-RPC call.
type request struct {
	ID     json.RawMessage   `json:"id"`
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		s.serveWS(w, r)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST a JSON-RPC request", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	out := s.answer(r.Context(), body)
	if out == nil {
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(out)
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	c.SetReadLimit(1 << 20)
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.CloseNow()
	}()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var wmu sync.Mutex
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		// Answer each call on its own, as a node does, so a slow one does
		// not hold up the rest.
		go func() {
			if out := s.answer(ctx, data); out != nil {
				wmu.Lock()
				c.Write(ctx, websocket.MessageText, out)
				wmu.Unlock()
			}
		}()
	}
}

// answer returns the response to one request body, or nil to say nothing.
func (s *Server) answer(ctx context.Context, body []byte) []byte {
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		return marshal(json.RawMessage("null"), nil, &Error{Code: -32700, Message: "Parse error"})
	}
	params, _ := json.Marshal(req.Params)
	s.mu.Lock()
	s.log = append(s.log, req.Method+" "+string(params))
	h := s.handler
	s.mu.Unlock()
	if h != nil {
		res, err := h(ctx, req.Method, req.Params)
		if ctx.Err() != nil {
			return nil
		}
		if err != ErrUseRecording {
			var re *Error
			if errors.As(err, &re) {
				return marshal(req.ID, nil, re)
			}
			if err != nil {
				return marshal(req.ID, nil, &Error{Code: -32603, Message: err.Error()})
			}
			return marshal(req.ID, res, nil)
		}
	}
	res, rerr := s.recorded(req)
	return marshal(req.ID, res, rerr)
}

func marshal(id json.RawMessage, result any, e *Error) []byte {
	m := map[string]any{"jsonrpc": "2.0", "id": id}
	if e != nil {
		m["error"] = e
	} else {
		m["result"] = result
	}
	out, _ := json.Marshal(m)
	return out
}

// param returns params[i] as a string, "" when absent or null.
func param(params []json.RawMessage, i int) string {
	var v string
	if i < len(params) {
		json.Unmarshal(params[i], &v)
	}
	return v
}

func (s *Server) recorded(req request) (any, *Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch req.Method {
	case "chain_getFinalizedHead", "chain_getHead":
		return s.head, nil
	case "chain_getBlockHash":
		if param(req.Params, 0) == "" && (len(req.Params) == 0 || string(req.Params[0]) == "null") {
			return s.head, nil
		}
	case "chain_getHeader":
		hash := param(req.Params, 0)
		if e, ok := s.related[relatedKey(req.Method, req.Params)]; ok {
			return e.Response.Result, nil
		}
		if hash == "" {
			if e, ok := s.related[relatedKey(req.Method, []json.RawMessage{json.RawMessage(`"` + s.head + `"`)})]; ok {
				return e.Response.Result, nil
			}
		}
		return nil, unknownBlock(hash)
	case "state_getRuntimeVersion":
		hash := param(req.Params, 0)
		if hash == "" {
			hash = s.head
		}
		if rv, ok := s.runtimes[hash]; ok {
			return rv, nil
		}
		return nil, unknownBlock(hash)
	case "state_call":
		method, args, hash := param(req.Params, 0), normHex(param(req.Params, 1)), param(req.Params, 2)
		if hash == "" {
			hash = s.head
		}
		res, ok := s.calls[callKey(method, args, hash)]
		if !ok {
			return nil, &Error{Code: 4003, Message: fmt.Sprintf("Client error: no recorded answer to %s(0x%s) at %s", method, args, hash)}
		}
		return s.replaced(res), nil
	}
	if e, ok := s.related[relatedKey(req.Method, req.Params)]; ok {
		if len(e.Response.Error) > 0 {
			var re Error
			json.Unmarshal(e.Response.Error, &re)
			return nil, &re
		}
		return e.Response.Result, nil
	}
	return nil, &Error{Code: -32601, Message: "Method not found"}
}

func unknownBlock(hash string) *Error {
	return &Error{Code: 4003, Message: "Client error: Api called for an unknown Block: " + hash}
}

// replaced applies Replace to a 0x-hex answer.
func (s *Server) replaced(res string) string {
	if len(s.replace) == 0 {
		return res
	}
	b, err := hex.DecodeString(strings.TrimPrefix(res, "0x"))
	if err != nil {
		return res
	}
	for _, r := range s.replace {
		b = bytes.ReplaceAll(b, r[0][:], r[1][:])
	}
	return "0x" + hex.EncodeToString(b)
}
