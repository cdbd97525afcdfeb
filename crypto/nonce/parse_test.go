package nonce_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fibergate/fibergate/crypto/nonce"
	"github.com/fibergate/fibergate/internal/testvectors"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  int64
		valid bool
	}{
		{"fiber client", "1795640127884867857_P3gzXCkH5t", 1795640127884867857, true},
		{"zero", "0_a", 0, true},
		{"one digit", "7_x", 7, true},
		{"max int64", "9223372036854775807_x", 9223372036854775807, true},
		{"suffix with underscores", "123_a_b_", 123, true},
		{"suffix of punctuation", "123_!~{}\"\\", 123, true},
		{"suffix of one byte", "123__", 123, true},
		{"exactly MaxLen", "1_" + strings.Repeat("a", nonce.MaxLen-2), 1, true},

		{"empty", "", 0, false},
		{"one byte over MaxLen", "1_" + strings.Repeat("a", nonce.MaxLen-1), 0, false},
		{"bare integer", "1795640127884867857", 0, false},
		{"empty suffix", "1795640127884867857_", 0, false},
		{"underscore only", "_", 0, false},
		{"no timestamp", "_abc", 0, false},
		{"plus sign", "+1795640127884867857_abc", 0, false},
		{"minus sign", "-1795640127884867857_abc", 0, false},
		{"leading space", " 1795640127884867857_abc", 0, false},
		{"trailing space in timestamp", "1795640127884867857 _abc", 0, false},
		{"leading zero", "01795640127884867857_abc", 0, false},
		{"double zero", "00_abc", 0, false},
		{"hex", "0x1f_abc", 0, false},
		{"decimal point", "1795640127.884867857_abc", 0, false},
		{"exponent", "1e18_abc", 0, false},
		{"digit grouping", "1,795_abc", 0, false},
		{"non-ASCII digit", "\u0661\u0662_abc", 0, false},
		{"fullwidth digit", "\uff11_abc", 0, false},
		{"letters", "abc_def", 0, false},
		{"max int64 plus one", "9223372036854775808_x", 0, false},
		{"twenty digits", "18446744073709551615_x", 0, false},
		{"huge", strings.Repeat("9", 40) + "_x", 0, false},
		{"space in suffix", "123_a b", 0, false},
		{"tab in suffix", "123_a\tb", 0, false},
		{"newline in suffix", "123_abc\n", 0, false},
		{"NUL in suffix", "123_a\x00", 0, false},
		{"DEL in suffix", "123_a\x7f", 0, false},
		{"non-ASCII suffix", "123_h\u00e9", 0, false},
		{"NUL in timestamp", "12\x003_abc", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := nonce.Parse([]byte(tt.in))
			if tt.valid {
				if err != nil || got != tt.want {
					t.Fatalf("Parse(%q) = %d, %v; want %d, nil", tt.in, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, nonce.ErrMalformed) {
				t.Fatalf("Parse(%q) = %d, %v; want ErrMalformed", tt.in, got, err)
			}
			if got != 0 {
				t.Errorf("Parse(%q) returned timestamp %d with an error; want 0", tt.in, got)
			}
		})
	}
}

// TestParseTranscript parses every nonce a real Fiber 2.1 client sent, in
// headers and inside bodies, and checks it was in the window of the moment
// the request went out.
func TestParseTranscript(t *testing.T) {
	var tr struct {
		Exchanges []struct {
			Name       string `json:"name"`
			TRequestNS int64  `json:"t_request_ns"`
			NonceNS    int64  `json:"nonce_time_ns"`
			Request    struct {
				Headers [][2]string `json:"headers"`
			} `json:"request"`
		} `json:"exchanges"`
		Plaintexts map[string]struct {
			Text string `json:"text"`
		} `json:"plaintexts"`
	}
	testvectors.Load(t, "transcript-fiber-2.1.json", &tr)
	reqTime := map[string]int64{}
	headers := 0
	for _, ex := range tr.Exchanges {
		reqTime[ex.Name] = ex.TRequestNS
		for _, h := range ex.Request.Headers {
			if !strings.EqualFold(h[0], "nonce") {
				continue
			}
			headers++
			ts, err := nonce.Parse([]byte(h[1]))
			if err != nil {
				t.Fatalf("exchange %s: Parse(%q): %v", ex.Name, h[1], err)
			}
			if ts != ex.NonceNS {
				t.Errorf("exchange %s: Parse(%q) = %d, want nonce_time_ns %d", ex.Name, h[1], ts, ex.NonceNS)
			}
			if err := nonce.CheckWindow(ts, ex.TRequestNS, nonce.DefaultWindow); err != nil {
				t.Errorf("exchange %s: CheckWindow at request time: %v", ex.Name, err)
			}
		}
	}
	if headers != 4 {
		t.Errorf("found %d nonce headers in the transcript, want 4", headers)
	}
	if len(tr.Plaintexts) == 0 {
		t.Fatal("transcript has no plaintexts")
	}
	for name, p := range tr.Plaintexts {
		var body struct {
			Nonce string `json:"nonce"`
		}
		if err := json.Unmarshal([]byte(p.Text), &body); err != nil {
			t.Fatalf("plaintext %s: %v", name, err)
		}
		ts, err := nonce.Parse([]byte(body.Nonce))
		if err != nil {
			t.Fatalf("plaintext %s: Parse(%q): %v", name, body.Nonce, err)
		}
		if err := nonce.CheckWindow(ts, reqTime[name], nonce.DefaultWindow); err != nil {
			t.Errorf("plaintext %s: CheckWindow of body nonce at request time %d: %v", name, reqTime[name], err)
		}
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	good := []byte("1795640127884867857_P3gzXCkH5t")
	bad := []byte("1795640127884867857")
	allocs := testing.AllocsPerRun(100, func() {
		nonce.Parse(good)
		nonce.Parse(bad)
	})
	if allocs != 0 {
		t.Errorf("Parse allocated %.1f times per run, want 0", allocs)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"1795640127884867857_P3gzXCkH5t", "0_a", "9223372036854775807_x",
		"9223372036854775808_x", "", "_", "1_", "01_a", "-1_a", "+1_a",
		"1_a b", "1_" + strings.Repeat("z", 126), "\u0661_a",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ts, err := nonce.Parse(in)
		if err != nil {
			if !errors.Is(err, nonce.ErrMalformed) {
				t.Fatalf("Parse(%q) error %v does not match ErrMalformed", in, err)
			}
			if ts != 0 {
				t.Fatalf("Parse(%q) = %d with error %v; want 0", in, ts, err)
			}
			return
		}
		// A valid nonce spells its timestamp canonically before the first
		// '_', and the rest is a non-empty printable-ASCII suffix.
		i := bytes.IndexByte(in, '_')
		if len(in) > nonce.MaxLen || i < 1 || i == len(in)-1 {
			t.Fatalf("Parse accepted %q", in)
		}
		if got := strconv.FormatInt(ts, 10); got != string(in[:i]) {
			t.Fatalf("Parse(%q) = %d, which spells %q, not %q", in, ts, got, in[:i])
		}
		for _, c := range in[i+1:] {
			if c < 0x21 || c > 0x7e {
				t.Fatalf("Parse(%q) accepted suffix byte %#x", in, c)
			}
		}
	})
}

func TestCheckWindow(t *testing.T) {
	const now = int64(1795640127845612470)
	const w = 120 * time.Second
	const wns = int64(w)
	const maxI, minI = int64(9223372036854775807), -int64(9223372036854775807) - 1
	tests := []struct {
		name    string
		ts, now int64
		window  time.Duration
		want    error
	}{
		{"same instant", now, now, w, nil},
		{"exactly window old", now - wns, now, w, nil},
		{"one ns past window old", now - wns - 1, now, w, nonce.ErrTooOld},
		{"exactly window new", now + wns, now, w, nil},
		{"one ns past window new", now + wns + 1, now, w, nonce.ErrTooNew},
		{"an hour old", now - int64(time.Hour), now, w, nonce.ErrTooOld},
		{"an hour new", now + int64(time.Hour), now, w, nonce.ErrTooNew},
		{"zero timestamp", 0, now, w, nonce.ErrTooOld},
		{"milliseconds, not nanoseconds", now / 1e6, now, w, nonce.ErrTooOld},
		{"zero window, same instant", now, now, 0, nil},
		{"zero window, 1 ns old", now - 1, now, 0, nonce.ErrTooOld},
		{"zero window, 1 ns new", now + 1, now, 0, nonce.ErrTooNew},
		{"negative window as zero", now + 1, now, -w, nonce.ErrTooNew},
		{"negative window, same instant", now, now, -w, nil},
		{"extremes: min ts, max now", minI, maxI, w, nonce.ErrTooOld},
		{"extremes: max ts, min now", maxI, minI, w, nonce.ErrTooNew},
		{"extremes: max ts, max now", maxI, maxI, w, nil},
		{"near max: window new", maxI, maxI - wns, w, nil},
		{"near min: window old", minI, minI + wns, w, nil},
		{"near min: past window old", minI, minI + wns + 1, w, nonce.ErrTooOld},
		{"max window", minI, maxI, time.Duration(maxI), nonce.ErrTooOld},
		{"max window, within", 0, maxI, time.Duration(maxI), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nonce.CheckWindow(tt.ts, tt.now, tt.window); got != tt.want {
				t.Errorf("CheckWindow(%d, %d, %v) = %v, want %v", tt.ts, tt.now, tt.window, got, tt.want)
			}
		})
	}
}
