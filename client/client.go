package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/fibergate/fibergate/crypto/fernet"
	"github.com/fibergate/fibergate/crypto/sr25519"
	"github.com/fibergate/fibergate/crypto/ss58"
)

// Options configure a Client.
type Options struct {
	// BaseURL is the miner's address, e.g. http://127.0.0.1:8080 (required).
	BaseURL string
	// Keypair is the validator's hotkey (required).
	Keypair *sr25519.Keypair
	// MinerHotkey is the miner's SS58 address (required).
	MinerHotkey string
	// HTTP is the HTTP client; nil means a client with a 60 s timeout.
	HTTP *http.Client
	// Rand supplies keys, nonces and IVs; nil means crypto/rand.
	Rand io.Reader
	// Now returns the time for nonces and tokens; nil means time.Now.
	Now func() time.Time
	// AutoHandshake makes a request that fails with unknown_key handshake
	// again and retry once.
	AutoHandshake bool
}

// Client talks to one miner as one validator. It is safe for concurrent
// use; Handshake replaces the key all later requests use.
type Client struct {
	opts      Options
	validator string // the validator's SS58 address
	http      *http.Client

	mu   sync.RWMutex
	key  *fernet.Key
	uuid string
}

// Error is a refusal from the server: its status, and for fibergate (and
// Fiber's FastAPI) the detail and stable error code of the JSON body.
type Error struct {
	Status            int
	Code              string
	Detail            string
	RequiresHandshake bool
}

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, e.Detail)
	}
	return fmt.Sprintf("server answered %d: %s", e.Status, e.Detail)
}

// ErrNoKey is returned by requests made before a successful Handshake.
var ErrNoKey = errors.New("client: no symmetric key: handshake first")

// New checks opts and returns a Client.
func New(opts Options) (*Client, error) {
	if opts.BaseURL == "" || opts.Keypair == nil || opts.MinerHotkey == "" {
		return nil, errors.New("client: BaseURL, Keypair and MinerHotkey are required")
	}
	if _, _, err := ss58.Decode(opts.MinerHotkey); err != nil {
		return nil, fmt.Errorf("client: miner hotkey: %w", err)
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	hc := opts.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	opts.BaseURL = strings.TrimSuffix(opts.BaseURL, "/")
	return &Client{
		opts:      opts,
		validator: ss58.Encode(opts.Keypair.Public(), ss58.Bittensor),
		http:      hc,
	}, nil
}

// Validator returns the validator's SS58 address.
func (c *Client) Validator() string { return c.validator }

// Key returns the current symmetric key and its uuid (nil before a handshake).
func (c *Client) Key() (*fernet.Key, string) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.key, c.uuid
}

// Nonce returns a Fiber nonce for time now: "<unix ns>_<10 letters/digits>".
func Nonce(now time.Time, r io.Reader) (string, error) {
	var b [NonceSuffixLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("client: making a nonce: %w", err)
	}
	return string(AppendNonce(make([]byte, 0, 32), now, b[:])), nil
}

// Headers returns the five signed headers of an encrypted-mode request
// (and of the exchange): the signature covers "{nonce}:{miner}:{uuid}".
func (c *Client) Headers(uuid string) (http.Header, error) {
	return c.signedHeaders(uuid)
}

func (c *Client) signedHeaders(third string) (http.Header, error) {
	n, err := Nonce(c.opts.Now(), c.opts.Rand)
	if err != nil {
		return nil, err
	}
	msg := AppendSigningMessage(nil, []byte(n), []byte(c.opts.MinerHotkey), []byte(third))
	sig, err := AppendSignature(nil, c.opts.Keypair, msg, c.opts.Rand)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h["validator-hotkey"] = []string{c.validator}
	h["miner-hotkey"] = []string{c.opts.MinerHotkey}
	h["nonce"] = []string{n}
	h["signature"] = []string{string(sig)}
	return h, nil
}

// Handshake fetches the miner's public key, sends it a fresh Fernet key
// under a fresh uuid, and keeps both for later requests.
func (c *Client) Handshake(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.opts.BaseURL+PublicKeyPath, nil)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("client: fetching the public key: %w", err)
	}
	body, err := readResponse(resp)
	if err != nil {
		return err
	}
	pub, err := ParsePublicKey(body)
	if err != nil {
		return err
	}
	var raw [32]byte
	var id [32]byte
	if _, err := io.ReadFull(c.opts.Rand, raw[:]); err != nil {
		return fmt.Errorf("client: making a key: %w", err)
	}
	if _, err := io.ReadFull(c.opts.Rand, id[:]); err != nil {
		return fmt.Errorf("client: making a uuid: %w", err)
	}
	uuid := hex.EncodeToString(id[:])
	payload, err := ExchangeBody(pub, raw, c.opts.Rand)
	if err != nil {
		return err
	}
	key, err := fernet.NewKey(raw[:])
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	h, err := c.signedHeaders(uuid)
	if err != nil {
		return err
	}
	h["symmetric-key-uuid"] = []string{uuid}
	h.Set("Content-Type", "application/json")
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, c.opts.BaseURL+ExchangePath, bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	req.Header = h
	resp, err = c.http.Do(req)
	if err != nil {
		return fmt.Errorf("client: exchanging the key: %w", err)
	}
	if _, err := readResponse(resp); err != nil {
		return err
	}
	c.mu.Lock()
	c.key, c.uuid = key, uuid
	c.mu.Unlock()
	return nil
}

// readResponse reads a whole response and turns a non-2xx status into *Error.
func readResponse(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("client: reading the answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return body, parseError(resp.StatusCode, body)
	}
	return body, nil
}

func parseError(status int, body []byte) *Error {
	e := &Error{Status: status}
	var b struct {
		Detail            any    `json:"detail"`
		Error             string `json:"error"`
		RequiresHandshake bool   `json:"requires_handshake"`
	}
	if json.Unmarshal(body, &b) == nil {
		e.Code, e.RequiresHandshake = b.Error, b.RequiresHandshake
		if s, ok := b.Detail.(string); ok {
			e.Detail = s
		} else if b.Detail != nil {
			d, _ := json.Marshal(b.Detail)
			e.Detail = string(d)
		}
	} else {
		e.Detail = strings.TrimSpace(string(body))
	}
	return e
}
