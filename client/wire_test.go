package client

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fibergate/fibergate/crypto/rsakey"
	"github.com/fibergate/fibergate/crypto/signature"
	"github.com/fibergate/fibergate/crypto/sr25519"
)

func TestAppendWithNonceReplaces(t *testing.T) {
	cases := []struct{ in, want string }{
		// Python's dict keeps an existing key's place and takes the new value.
		{`{"nonce": "mine", "a": 1}`, `{"nonce": "1_a", "a": 1}`},
		{`{"a":1,"nonce":7}`, `{"a":1,"nonce":"1_a"}`},
		{`{"a":1, "nonce": {"x": [1, "}"]}, "b": 2}`, `{"a":1, "nonce": "1_a", "b": 2}`},
		// Further members of the name go, as json.loads keeps one.
		{`{"nonce": 1, "a": 2, "nonce": 3}`, `{"nonce": "1_a", "a": 2}`},
		{`{"a": 2, "nonce": 1, "nonce": 3, "b": 4}`, `{"a": 2, "nonce": "1_a", "b": 4}`},
		// The same name spelled with an escape is the same key.
		{`{"non\u0063e": "x", "b": 1}`, `{"non\u0063e": "1_a", "b": 1}`},
		// Everything else is kept byte for byte: big integers, spacing,
		// escapes, non-ASCII text.
		{`{"big": 123456789012345678901234567890, "f": 1.0e+3}`, `{"big": 123456789012345678901234567890, "f": 1.0e+3, "nonce": "1_a"}`},
		{"{\"s\": \"h\u00e9llo \\u2603\",\n \"t\":true }", "{\"s\": \"h\u00e9llo \\u2603\",\n \"t\":true, \"nonce\": \"1_a\" }"},
		{` {} `, `{"nonce": "1_a"}`},
		{`{"nonces": 1}`, `{"nonces": 1, "nonce": "1_a"}`},
	}
	for _, tc := range cases {
		got, err := AppendWithNonce([]byte("keep"), []byte(tc.in), []byte("1_a"))
		if err != nil || string(got) != "keep"+tc.want {
			t.Errorf("AppendWithNonce(%q): got %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{`{"a":1}{"b":2}`, `{"a":}`, `{"a":1,}`, "{\"a\":\"\xff\"}", `123`, ` `, `{"a":1} x`} {
		if _, err := AppendWithNonce(nil, []byte(bad), []byte("1_a")); err != ErrNotObject {
			t.Errorf("AppendWithNonce(%q): got %v, want ErrNotObject", bad, err)
		}
	}
}

// Nesting is bounded as encoding/json bounds it, without exhausting the
// stack; within the bound every level is checked.
func TestAppendWithNonceDepth(t *testing.T) {
	nested := func(n int, inner string) []byte {
		return []byte(`{"a":` + strings.Repeat("[", n) + inner + strings.Repeat("]", n) + `}`)
	}
	if _, err := AppendWithNonce(nil, nested(100, "1"), []byte("1_a")); err != nil {
		t.Errorf("depth 100: %v", err)
	}
	if _, err := AppendWithNonce(nil, nested(100, "01"), []byte("1_a")); err != ErrNotObject {
		t.Errorf("a bad number at depth 100: %v", err)
	}
	if _, err := AppendWithNonce(nil, nested(200_000, ""), []byte("1_a")); err != ErrNotObject {
		t.Errorf("depth 200,000: %v", err)
	}
}

// FuzzWithNonce: for every JSON object, the result is one JSON object
// holding exactly one "nonce" (the given one) and every other member as
// the input had it.
func FuzzWithNonce(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"nonce":"x","b":[1,{"c":"}"}]}`, `{"nonce":1,"nonce":2}`, `{"non\u0063e":3}`, `[1]`, `{"a":"\\\""}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := AppendWithNonce(nil, in, []byte("1_a"))
		var want map[string]any
		d := json.NewDecoder(bytes.NewReader(in))
		d.UseNumber()
		objErr := d.Decode(&want)
		isObject := objErr == nil && json.Valid(in) && utf8.Valid(in) && bytes.HasPrefix(bytes.TrimSpace(in), []byte("{"))
		if !isObject {
			if err == nil {
				t.Fatalf("%q is not a JSON object, got %q", in, out)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		var got map[string]any
		d = json.NewDecoder(bytes.NewReader(out))
		d.UseNumber()
		if err := d.Decode(&got); err != nil || !json.Valid(out) {
			t.Fatalf("%q gave %q: not JSON (%v)", in, out, err)
		}
		want["nonce"] = "1_a"
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q gave %q: decodes to %v, want %v", in, out, got, want)
		}
		if n := countNonces(t, out); n != 1 {
			t.Fatalf("%q gave %q: %d nonce members", in, out, n)
		}
	})
}

// countNonces counts the top-level members named "nonce" in a JSON object.
func countNonces(t *testing.T, b []byte) int {
	d := json.NewDecoder(bytes.NewReader(b))
	d.Token() // {
	n := 0
	for d.More() {
		k, err := d.Token()
		if err != nil {
			t.Fatal(err)
		}
		if k == "nonce" {
			n++
		}
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func TestIsUnknownKey(t *testing.T) {
	cases := []struct {
		status int
		body   string
		want   bool
	}{
		{400, `{"detail":"No symmetric key found for that hotkey and uuid"}`, true},
		{400, `{"detail":"No symmetric key found for that hotkey and uuid","error":"unknown_key","requires_handshake":true}`, true},
		{400, `{"error":"unknown_key"}`, true},
		{400, `{"detail":"x","requires_handshake":true}`, true},
		{401, `{"detail":"No symmetric key found for that hotkey and uuid"}`, false},
		{400, `{"detail":"Oi, invalid nonce"}`, false},
		{400, `No symmetric key found for that hotkey and uuid`, false},
		{400, ``, false},
	}
	for _, tc := range cases {
		if got := IsUnknownKey(tc.status, []byte(tc.body)); got != tc.want {
			t.Errorf("IsUnknownKey(%d, %s): got %v, want %v", tc.status, tc.body, got, tc.want)
		}
	}
}

// The signature pieces produce what a Fiber server verifies.
func TestSignedMessageVerifies(t *testing.T) {
	kp, err := sr25519.KeypairFromSeed([32]byte{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	miner := []byte("5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty")
	nonce := AppendNonce(nil, time.Unix(0, 1795640127895945628), []byte("0123456789"))
	if !strings.HasPrefix(string(nonce), "1795640127895945628_") || len(nonce) != 20+NonceSuffixLen {
		t.Fatalf("nonce %q", nonce)
	}
	v, err := signature.NewVerifier(kp.Public(), signature.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, third := range [][]byte{[]byte("uuid-1"), AppendBodyHash(nil, []byte(`{"a":1}`)), nil} {
		msg := AppendSigningMessage(nil, nonce, miner, third)
		want := string(nonce) + ":" + string(miner)
		if third != nil {
			want += ":" + string(third)
		}
		if string(msg) != want {
			t.Fatalf("message %q, want %q", msg, want)
		}
		sig, err := AppendSignature(nil, kp, msg, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(sig) != 130 || !bytes.HasPrefix(sig, []byte("0x")) {
			t.Fatalf("signature %q", sig)
		}
		var raw [64]byte
		if _, err := hex.Decode(raw[:], sig[2:]); err != nil || !v.Verify(msg, &raw) {
			t.Errorf("the signature over %q does not verify (%v)", msg, err)
		}
	}
	if h := AppendBodyHash(nil, nil); string(h) != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("hash of nothing: %s", h)
	}
}

func TestExchangeBodyUnwraps(t *testing.T) {
	priv, err := rsakey.Generate(2048, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := rsakey.PublicPEM(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := json.Marshal(map[string]any{"public_key": string(pem), "timestamp": 1.5})
	pub, err := ParsePublicKey(answer)
	if err != nil {
		t.Fatal(err)
	}
	key := [32]byte{9, 8, 7}
	body, err := ExchangeBody(pub, key, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Key string `json:"encrypted_symmetric_key"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	ct, err := base64.StdEncoding.DecodeString(b.Key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := rsakey.DecryptSymmetricKey(priv, ct)
	if err != nil || got != key {
		t.Errorf("unwrapped %x, %v; want %x", got, err, key)
	}
	for _, bad := range []string{`{}`, `{"public_key": 1}`, `{"public_key": "not pem"}`, `x`} {
		if _, err := ParsePublicKey([]byte(bad)); err == nil {
			t.Errorf("ParsePublicKey(%s): no error", bad)
		}
	}
}

func BenchmarkAppendWithNonce(b *testing.B) {
	for _, size := range []int{256, 4096} {
		payload := []byte(`{"prompt": "fibergate bench", "pad": "` + strings.Repeat("x", size-40) + `"}`)
		nonce := []byte("1795640127897557264_1QZxLa28o1")
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			dst := make([]byte, 0, 2*size)
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for range b.N {
				var err error
				if dst, err = AppendWithNonce(dst[:0], payload, nonce); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
