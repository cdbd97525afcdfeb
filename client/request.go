package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Response is a miner's answer, decrypted when it came encrypted.
type Response struct {
	Status    int
	Header    http.Header
	Body      []byte
	Encrypted bool // the body arrived as a Fernet token
}

// Post sends payload (a JSON object) encrypted to path, asking for an
// encrypted response, and returns the decrypted answer. A refusal is *Error.
func (c *Client) Post(ctx context.Context, path string, payload []byte) (*Response, error) {
	return c.retry(ctx, func() (*Response, error) {
		resp, err := c.send(ctx, http.MethodPost, path, payload)
		if err != nil {
			return nil, err
		}
		return c.readAnswer(resp)
	})
}

// Get sends a signed GET (Fiber 2.4's encrypted client) to path.
func (c *Client) Get(ctx context.Context, path string) (*Response, error) {
	return c.retry(ctx, func() (*Response, error) {
		resp, err := c.send(ctx, http.MethodGet, path, nil)
		if err != nil {
			return nil, err
		}
		return c.readAnswer(resp)
	})
}

// Stream sends payload encrypted to path and calls fn with each line of
// the answer as it arrives, decrypted when the server encrypts lines. It
// returns the status; a refusal is *Error.
func (c *Client) Stream(ctx context.Context, path string, payload []byte, fn func(line []byte) error) (int, error) {
	resp, err := c.send(ctx, http.MethodPost, path, payload)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode/100 != 2 {
		_, err := readResponse(resp)
		if e := (*Error)(nil); errors.As(err, &e) && e.RequiresHandshake && c.opts.AutoHandshake {
			if herr := c.Handshake(ctx); herr != nil {
				return 0, herr
			}
			return c.Stream(ctx, path, payload, fn)
		}
		return resp.StatusCode, err
	}
	defer resp.Body.Close()
	key, _ := c.Key()
	encrypted := resp.Header.Get(HeaderEncrypted) == "fernet"
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			line = bytes.TrimSuffix(line, []byte("\n"))
			// An empty line is sent as it is: there is no empty token.
			if encrypted && len(line) > 0 {
				plain, _, derr := key.Decrypt(nil, line)
				if derr != nil {
					return resp.StatusCode, fmt.Errorf("client: decrypting a streamed line: %w", derr)
				}
				line = plain
			}
			if ferr := fn(line); ferr != nil {
				return resp.StatusCode, ferr
			}
		}
		if err == io.EOF {
			return resp.StatusCode, nil
		}
		if err != nil {
			return resp.StatusCode, fmt.Errorf("client: reading the stream: %w", err)
		}
	}
}

// SignedPost sends body in Fiber 2.x signed mode: plaintext, with the
// signature over "{nonce}:{miner}:{sha256 hex of body}".
func (c *Client) SignedPost(ctx context.Context, path string, body []byte) (*Response, error) {
	h, err := c.signedHeaders(string(AppendBodyHash(nil, body)))
	if err != nil {
		return nil, err
	}
	h.Set("Content-Type", "application/json")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.opts.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	req.Header = h
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: sending: %w", err)
	}
	return c.readAnswer(resp)
}

// retry runs do, and when AutoHandshake is set and the server says the key
// is unknown, handshakes and runs it once more.
func (c *Client) retry(ctx context.Context, do func() (*Response, error)) (*Response, error) {
	resp, err := do()
	var e *Error
	if err != nil && c.opts.AutoHandshake && errors.As(err, &e) && e.RequiresHandshake {
		if herr := c.Handshake(ctx); herr != nil {
			return nil, herr
		}
		return do()
	}
	return resp, err
}

// send builds and sends one encrypted-mode request.
func (c *Client) send(ctx context.Context, method, path string, payload []byte) (*http.Response, error) {
	key, uuid := c.Key()
	if key == nil {
		return nil, ErrNoKey
	}
	h, err := c.signedHeaders(uuid)
	if err != nil {
		return nil, err
	}
	h["symmetric-key-uuid"] = []string{uuid}
	h.Set(HeaderResponseEncryption, "fernet")
	var body io.Reader
	if method != http.MethodGet {
		n, err := Nonce(c.opts.Now(), c.opts.Rand)
		if err != nil {
			return nil, err
		}
		plain, err := WithNonce(payload, n)
		if err != nil {
			return nil, err
		}
		var iv [16]byte
		if _, err := io.ReadFull(c.opts.Rand, iv[:]); err != nil {
			return nil, fmt.Errorf("client: making an IV: %w", err)
		}
		body = bytes.NewReader(key.Encrypt(nil, plain, c.opts.Now().Unix(), &iv))
		h.Set("Content-Type", "application/octet-stream")
	}
	req, err := http.NewRequestWithContext(ctx, method, c.opts.BaseURL+path, body)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	req.Header = h
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: sending: %w", err)
	}
	return resp, nil
}

// readAnswer reads a response, decrypting an encrypted body.
func (c *Client) readAnswer(resp *http.Response) (*Response, error) {
	body, err := readResponse(resp)
	if err != nil {
		return nil, err
	}
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
	if resp.Header.Get(HeaderEncrypted) == "fernet" {
		key, _ := c.Key()
		if key == nil {
			return nil, ErrNoKey
		}
		plain, _, err := key.Decrypt(nil, bytes.TrimSpace(body))
		if err != nil {
			return nil, fmt.Errorf("client: decrypting the answer: %w", err)
		}
		out.Body, out.Encrypted = plain, true
	}
	return out, nil
}
