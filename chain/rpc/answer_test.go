package rpc

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
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
