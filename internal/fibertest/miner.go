// Package fibertest is a far end for tests that answers as Fiber's own
// Python miner server does (Fiber 2.1's encrypted flavour and 2.2+'s
// light flavour), written from the protocol and the recorded transcript of
// a real Fiber 2.1 miner (testdata/vectors/transcript-fiber-2.1.json): a
// fresh RSA key at every start, the checks in Fiber's order with Fiber's
// statuses and details (422 as FastAPI writes it for a missing header, 403
// for stake, 401 for nonce and signature, 400 "No symmetric key found for
// that hotkey and uuid"), keys kept 5 hours, and answers that are never
// encrypted. It runs on 127.0.0.1 with net/http, as uvicorn serves Fiber.
package fibertest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/crypto/nonce"
	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/crypto/signature"
	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/crypto/ss58"
)

// Fiber's constants.
const (
	keyTTL      = 5 * time.Hour
	nonceWindow = 120 * time.Second
	// UnknownKeyDetail is Fiber's detail for a request under a key it
	// does not hold.
	UnknownKeyDetail = "No symmetric key found for that hotkey and uuid"
)

// Options configure a Miner.
type Options struct {
	// Hotkey is the miner's keypair (its SS58 address is what the light
	// flavour checks miner-hotkey against). Required.
	Hotkey *sr25519.Keypair
	// Stakes are the validators in the metagraph and their stake.
	Stakes map[[32]byte]float64
	// MinStake is the threshold (Fiber's min_stake_threshold). Default 0.
	MinStake float64
	// Handler, when set, answers a verified, decrypted encrypted-mode
	// request instead of the built-in echo: it gets the plaintext and the
	// key, and may write anything (tests of egress's handling of answers).
	Handler func(w http.ResponseWriter, r *http.Request, plain []byte, key *fernet.Key)
}

// Received is one request an endpoint accepted, as the app saw it.
type Received struct {
	Path    string
	Method  string
	Header  http.Header
	Body    []byte // decrypted in encrypted mode
	Flavour string // "encrypted" or "light"
}

// Miner is a running far end. Its methods are safe for concurrent use.
type Miner struct {
	opts Options
	ln   net.Listener
	srv  *http.Server
	addr string

	exchanges atomic.Int64
	requests  atomic.Int64

	mu       sync.Mutex
	priv     *rsa.PrivateKey
	pem      string
	keys     map[string]keyEntry // validator ss58 + "\x00" + uuid
	seen     map[string]time.Time
	received []Received
}

type keyEntry struct {
	key     *fernet.Key
	expires time.Time
}

// Start starts a Miner on a free port of 127.0.0.1 with a fresh RSA key.
func Start(opts Options) (*Miner, error) { return StartOn("127.0.0.1:0", opts) }

// StartOn starts a Miner listening on addr.
func StartOn(addr string, opts Options) (*Miner, error) {
	m := &Miner{opts: opts}
	if err := m.reset(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	m.addr = ln.Addr().String()
	m.serve(ln)
	return m, nil
}

func (m *Miner) serve(ln net.Listener) {
	m.ln = ln
	mux := http.NewServeMux()
	mux.HandleFunc("/public-encryption-key", m.publicKey)
	mux.HandleFunc("/exchange-symmetric-key", m.exchange)
	mux.HandleFunc("/light/", m.light)
	mux.HandleFunc("/", m.encrypted)
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go m.srv.Serve(ln)
}

// reset makes a fresh RSA key and forgets every key and nonce, as a Fiber
// miner that starts.
func (m *Miner) reset() error {
	priv, err := rsakey.Generate(2048, rand.Reader)
	if err != nil {
		return err
	}
	pem, err := rsakey.PublicPEM(&priv.PublicKey)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.priv, m.pem = priv, string(pem)
	m.keys = make(map[string]keyEntry)
	m.seen = make(map[string]time.Time)
	m.received = nil
	m.mu.Unlock()
	m.exchanges.Store(0)
	m.requests.Store(0)
	return nil
}

// URL returns the miner's base URL.
func (m *Miner) URL() string { return "http://" + m.addr }

// Exchanges returns the number of key exchanges the miner accepted since
// it (re)started.
func (m *Miner) Exchanges() int64 { return m.exchanges.Load() }

// Requests returns the number of requests its endpoints accepted.
func (m *Miner) Requests() int64 { return m.requests.Load() }

// Received returns the requests accepted so far.
func (m *Miner) Received() []Received {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Received(nil), m.received...)
}

// Restart stops the miner and starts it again on the same address with a
// fresh RSA key and no keys, as a Fiber miner restarted by its operator.
func (m *Miner) Restart() error {
	m.srv.Close()
	if err := m.reset(); err != nil {
		return err
	}
	var ln net.Listener
	var err error
	for i := 0; i < 100; i++ {
		if ln, err = net.Listen("tcp", m.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	m.serve(ln)
	return nil
}

// Close stops the miner.
func (m *Miner) Close() { m.srv.Close() }

// detail answers as FastAPI's HTTPException does.
func detail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"detail": msg})
	w.Write(b)
}

// missing answers 422 as FastAPI does for required headers that are
// absent (pydantic 1's wording, as Fiber 2.1 runs it).
func missing(w http.ResponseWriter, names []string) {
	type item struct {
		Loc  []string `json:"loc"`
		Msg  string   `json:"msg"`
		Type string   `json:"type"`
	}
	var out struct {
		Detail []item `json:"detail"`
	}
	for _, n := range names {
		out.Detail = append(out.Detail, item{Loc: []string{"header", n}, Msg: "field required", Type: "value_error.missing"})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnprocessableEntity)
	json.NewEncoder(w).Encode(out)
}

// headers returns the values of the named headers, answering 422 when any
// is missing.
func headers(w http.ResponseWriter, r *http.Request, names ...string) ([]string, bool) {
	vals := make([]string, len(names))
	var absent []string
	for i, n := range names {
		vals[i] = r.Header.Get(n)
		if _, ok := r.Header[http.CanonicalHeaderKey(n)]; !ok {
			absent = append(absent, n)
		}
	}
	if len(absent) > 0 {
		missing(w, absent)
		return nil, false
	}
	return vals, true
}

func (m *Miner) publicKey(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		detail(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	m.mu.Lock()
	pem := m.pem
	m.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"public_key": pem,
		"timestamp":  float64(time.Now().UnixNano()) / 1e9,
		"hotkey":     ss58.Encode(m.opts.Hotkey.Public(), ss58.Bittensor),
	})
}

// stake applies blacklist_low_stake.
func (m *Miner) stake(w http.ResponseWriter, validator string) bool {
	pub, _, err := ss58.Decode(validator)
	st, ok := m.opts.Stakes[pub]
	if err != nil || !ok {
		detail(w, http.StatusForbidden, "Hotkey not found in metagraph")
		return false
	}
	if st < m.opts.MinStake {
		detail(w, http.StatusForbidden, "Insufficient stake of "+strconv.FormatFloat(st, 'f', 1, 64)+" ")
		return false
	}
	return true
}

// nonceOK applies Fiber's nonce check: well-formed, within the window,
// unseen; it records the nonce (before the signature, as Fiber does).
func (m *Miner) nonceOK(n string) bool {
	ts, err := nonce.Parse([]byte(n))
	if err != nil {
		return false
	}
	d := time.Since(time.Unix(0, ts))
	if d > nonceWindow || d < -nonceWindow {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.seen[n]; dup {
		return false
	}
	m.seen[n] = time.Now()
	return true
}

// signed checks a signature over msg by the validator.
func signed(validator, sigHex, msg string) bool {
	pub, _, err := ss58.Decode(validator)
	if err != nil || !strings.HasPrefix(sigHex, "0x") || len(sigHex) != 130 {
		return false
	}
	var sig [64]byte
	if _, err := hex.Decode(sig[:], []byte(sigHex[2:])); err != nil {
		return false
	}
	v, err := signature.NewVerifier(pub, signature.Options{})
	return err == nil && v.Verify([]byte(msg), &sig)
}

func (m *Miner) exchange(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		detail(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	h, ok := headers(w, r, "validator-hotkey", "signature", "miner-hotkey", "nonce", "symmetric-key-uuid")
	if !ok {
		return
	}
	validator, sig, miner, n, uuid := h[0], h[1], h[2], h[3], h[4]
	if !m.stake(w, validator) {
		return
	}
	if !m.nonceOK(n) {
		detail(w, http.StatusUnauthorized, "Oi, that nonce is not valid!")
		return
	}
	if !signed(validator, sig, n+":"+miner+":"+uuid) {
		detail(w, http.StatusUnauthorized, "Oi, invalid signature, you're not who you said you were!")
		return
	}
	var payload struct {
		Key *string `json:"encrypted_symmetric_key"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if json.Unmarshal(body, &payload) != nil || payload.Key == nil {
		detail(w, http.StatusUnprocessableEntity, "encrypted_symmetric_key: field required")
		return
	}
	ct, err := base64.StdEncoding.DecodeString(*payload.Key)
	if err != nil {
		detail(w, http.StatusInternalServerError, "Internal Server Error") // Fiber's b64decode raises
		return
	}
	m.mu.Lock()
	priv := m.priv
	m.mu.Unlock()
	raw, err := rsakey.DecryptSymmetricKey(priv, ct)
	if err != nil {
		detail(w, http.StatusUnauthorized, "Oi, I can't decrypt that symmetric key, sorry")
		return
	}
	key, err := fernet.NewKey(raw[:])
	if err != nil {
		detail(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	m.mu.Lock()
	m.keys[validator+"\x00"+uuid] = keyEntry{key: key, expires: time.Now().Add(keyTTL)}
	m.mu.Unlock()
	m.exchanges.Add(1)
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"status":"Symmetric key exchanged successfully"}`)
}

// encrypted serves every other path as Fiber's encrypted endpoints: the
// five headers verified, the key found, the body decrypted; a GET (2.4's
// signed GET) has no body. The built-in app echoes the JSON it got, and
// /echo-stream answers {"lines": n} with n lines of newline-delimited JSON
// (and {"cut": true} breaks the connection after them, without the final
// chunk).
func (m *Miner) encrypted(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		detail(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	h, ok := headers(w, r, "validator-hotkey", "signature", "miner-hotkey", "nonce", "symmetric-key-uuid")
	if !ok {
		return
	}
	validator, sig, miner, n, uuid := h[0], h[1], h[2], h[3], h[4]
	if !m.nonceOK(n) {
		detail(w, http.StatusUnauthorized, "Oi, that nonce is not valid!")
		return
	}
	if !signed(validator, sig, n+":"+miner+":"+uuid) {
		detail(w, http.StatusUnauthorized, "Oi, invalid signature, you're not who you said you were!")
		return
	}
	if !m.stake(w, validator) {
		return
	}
	m.mu.Lock()
	e, ok := m.keys[validator+"\x00"+uuid]
	m.mu.Unlock()
	if !ok || time.Now().After(e.expires) {
		detail(w, http.StatusBadRequest, UnknownKeyDetail)
		return
	}
	var plain []byte
	if r.Method == http.MethodPost {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		p, _, err := e.key.Decrypt(nil, body)
		if err != nil {
			// Fiber's fernet.decrypt raises InvalidToken: a 500.
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "Internal Server Error")
			return
		}
		var v map[string]any
		if json.Unmarshal(p, &v) != nil {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "Internal Server Error")
			return
		}
		plain = p
	}
	m.record(r, plain, "encrypted")
	if m.opts.Handler != nil {
		m.opts.Handler(w, r, plain, e.key)
		return
	}
	m.app(w, r, plain)
}

// light serves /light/... as Fiber 2.2+'s light flavour: the signature
// over "{nonce}:{miner}:{sha256 of the body}" (a GET over
// "{nonce}:{miner}"), miner-hotkey that must be this miner's, and the body
// as it is.
func (m *Miner) light(w http.ResponseWriter, r *http.Request) {
	h, ok := headers(w, r, "validator-hotkey", "signature", "miner-hotkey", "nonce")
	if !ok {
		return
	}
	validator, sig, miner, n := h[0], h[1], h[2], h[3]
	if miner != ss58.Encode(m.opts.Hotkey.Public(), ss58.Bittensor) {
		detail(w, http.StatusUnauthorized, "Oi, that's not me!")
		return
	}
	if !m.nonceOK(n) {
		detail(w, http.StatusUnauthorized, "Oi, that nonce is not valid!")
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	msg := n + ":" + miner
	if r.Method != http.MethodGet {
		sum := sha256.Sum256(body)
		msg += ":" + hex.EncodeToString(sum[:])
	}
	if !signed(validator, sig, msg) {
		detail(w, http.StatusUnauthorized, "Oi, invalid signature, you're not who you said you were!")
		return
	}
	if !m.stake(w, validator) {
		return
	}
	m.record(r, body, "light")
	m.app(w, r, body)
}

func (m *Miner) record(r *http.Request, body []byte, flavour string) {
	m.requests.Add(1)
	m.mu.Lock()
	m.received = append(m.received, Received{Path: r.URL.RequestURI(), Method: r.Method, Header: r.Header.Clone(), Body: bytes.Clone(body), Flavour: flavour})
	m.mu.Unlock()
}

// app is the built-in app behind the endpoints.
func (m *Miner) app(w http.ResponseWriter, r *http.Request, body []byte) {
	if !strings.HasSuffix(r.URL.Path, "/echo-stream") {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet {
			fmt.Fprintf(w, `{"get":true,"query":%q}`, r.URL.RawQuery)
			return
		}
		w.Write(body)
		return
	}
	var req struct {
		Lines int  `json:"lines"`
		Cut   bool `json:"cut"`
	}
	json.Unmarshal(body, &req)
	w.Header().Set("Content-Type", "application/x-ndjson")
	fl, _ := w.(http.Flusher)
	for i := range req.Lines {
		fmt.Fprintf(w, "{\"i\": %d, \"of\": %d}\n", i, req.Lines)
		if fl != nil {
			fl.Flush()
		}
		time.Sleep(5 * time.Millisecond)
	}
	if req.Cut {
		panic(http.ErrAbortHandler) // net/http closes the connection without the final chunk
	}
}
