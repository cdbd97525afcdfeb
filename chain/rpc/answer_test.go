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
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/coder/websocket"
)

// A hex result of several read pieces comes back whole and decoded, over
// both transports, with or without a Content-Length.
func TestHexBytesResult(t *testing.T) {
	want := bytes.Repeat([]byte{0xab, 0x01, 0xfe}, readChunk) // 3 MiB: several pieces
	text := `"0x` + hex.EncodeToString(want) + `"`
	n := newNode(t, func(req request) []string { return []string{result(req, text)} })
	for _, url := range []string{n.httpURL(), n.wsURL()} {
		c := dial(t, url, Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var got HexBytes
		err := c.Call(ctx, "state_call", &got)
		cancel()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: got %d bytes, %v; want the %d sent", url, len(got), err, len(want))
		}
	}
}

func TestHexBytesRefuses(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{`"0xabc"`, ErrNotHex},
		{`"abcd"`, ErrNotHex},
		{`"0xzz"`, ErrNotHex},
		{`"0"`, ErrNotHex},
		{`12`, nil},
	} {
		var h HexBytes
		err := h.UnmarshalJSON([]byte(tc.in))
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: got %v, want an error (%v)", tc.in, err, tc.want)
		}
	}
	var h HexBytes
	if err := h.UnmarshalJSON([]byte(`"0x"`)); err != nil || len(h) != 0 {
		t.Errorf(`"0x": got %x, %v; want empty`, h, err)
	}
}

// readAnswer reads an answer of unknown length in pieces, whatever sizes
// the reader hands out, and refuses one over the limit.
func TestReadAnswer(t *testing.T) {
	data := []byte(strings.Repeat("0123456789", readChunk/4)) // 2.5 pieces
	for name, r := range map[string]io.Reader{
		"whole":     bytes.NewReader(data),
		"one byte":  iotest.OneByteReader(bytes.NewReader(data[:3000])),
		"half":      iotest.HalfReader(bytes.NewReader(data)),
		"data+EOF":  iotest.DataErrReader(bytes.NewReader(data)),
		"empty":     bytes.NewReader(nil),
		"one piece": bytes.NewReader(data[:readChunk]),
	} {
		got, err := readAnswer(r, -1, int64(len(data)))
		src := data
		switch name {
		case "one byte":
			src = data[:3000]
		case "empty":
			src = nil
		case "one piece":
			src = data[:readChunk]
		}
		if err != nil || !bytes.Equal(got, src) {
			t.Errorf("%s: got %d bytes, %v; want %d", name, len(got), err, len(src))
		}
	}
	if _, err := readAnswer(bytes.NewReader(data), -1, int64(len(data))-1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("one byte over: got %v, want ErrTooLarge", err)
	}
	if got, err := readAnswer(bytes.NewReader(data), int64(len(data)), int64(len(data))); err != nil || !bytes.Equal(got, data) {
		t.Errorf("known length: got %d bytes, %v", len(got), err)
	}
	if _, err := readAnswer(bytes.NewReader(data[:10]), 20, 100); err == nil {
		t.Error("an answer shorter than its Content-Length was taken")
	}
}

// A large hex answer costs the client about its size (a Content-Length
// known), or twice it (an answer of unknown length, put together once from
// its pieces): not the copies of the answer, its result, the result as a
// string and its decoded bytes. (SOAK.md has the process's peak memory with
// answers at the 64 MiB cap.)
func TestLargeAnswerMemory(t *testing.T) {
	const size = 4 << 20 // decoded bytes; the answer holds twice that in hex
	text := []byte(`"0x` + strings.Repeat("ab", size) + `"`)
	// The node writes the answer from its parts, so what is measured is
	// what the client allocates.
	writeAnswer := func(w io.Writer, body []byte) {
		var req request
		json.Unmarshal(body, &req)
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":`, req.ID)
		w.Write(text)
		io.WriteString(w, "}")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			body, _ := io.ReadAll(r.Body)
			var req request
			json.Unmarshal(body, &req)
			w.Header().Set("Content-Length", strconv.Itoa(len(`{"jsonrpc":"2.0","id":,"result":}`)+len(req.ID)+len(text)))
			writeAnswer(w, body)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			_, body, err := c.Read(r.Context())
			if err != nil {
				return
			}
			mw, err := c.Writer(r.Context(), websocket.MessageText)
			if err != nil {
				return
			}
			writeAnswer(mw, body)
			mw.Close()
		}
	}))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		name, url string
		times     float64 // of the answer's size
	}{
		{"http, with Content-Length", srv.URL, 1.15},
		{"websocket", "ws" + strings.TrimPrefix(srv.URL, "http"), 2.3},
	} {
		c := dial(t, tc.url, Options{})
		// A first call warms the connection; the second is measured.
		for range 2 {
			var got HexBytes
			var a, b runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&a)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := c.Call(ctx, "state_call", &got)
			cancel()
			runtime.ReadMemStats(&b)
			if err != nil || len(got) != size {
				t.Fatalf("%s: got %d bytes, %v", tc.name, len(got), err)
			}
			alloc := b.TotalAlloc - a.TotalAlloc
			limit := uint64(tc.times * float64(len(text)))
			t.Logf("%s: a %d-byte answer, %.1f MB allocated (%.2f times)", tc.name, len(text), float64(alloc)/1e6, float64(alloc)/float64(len(text)))
			if alloc > limit {
				t.Errorf("%s: %d bytes allocated for a %d-byte answer, want at most %d", tc.name, alloc, len(text), limit)
			}
		}
	}
}
