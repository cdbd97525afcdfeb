package proxy

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestCanonicalJSON checks the earlier handshake's signed form against
// outputs of Python's json.dumps(v, sort_keys=True, separators=(",", ":")),
// recorded from CPython 3.11.
func TestCanonicalJSON(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"b": 1, "a": 2}`, `{"a":2,"b":1}`},
		{`{"timestamp": 1732550400.123456, "nonce": "n"}`, `{"nonce":"n","timestamp":1732550400.123456}`},
		{`{"f": [1e16, 1e15, 1e-5, 0.0001, 0.1, 100.0, 1.5e300, -0.0, 123456789012345678901234567890, 2.5e-7, 1E2, 0.30000000000000004]}`,
			`{"f":[1e+16,1000000000000000.0,1e-05,0.0001,0.1,100.0,1.5e+300,-0.0,123456789012345678901234567890,2.5e-07,100.0,0.30000000000000004]}`},
		{`{"s": "h\u00e9llo \u2603 \ud83d\ude00 \u007f \u0001 \n\t\"\\/ done"}`,
			`{"s":"h\u00e9llo \u2603 \ud83d\ude00 \u007f \u0001 \n\t\"\\/ done"}`},
		{`{"z": {"y": [true, false, null], "x": {}}, "\u00e9": 1, "A": [], "a": ""}`,
			`{"A":[],"a":"","z":{"x":{},"y":[true,false,null]},"\u00e9":1}`},
		{`{"big": -0, "neg": -12, "e": 1e400}`, `{"big":0,"e":Infinity,"neg":-12}`},
	}
	for _, tc := range cases {
		dec := json.NewDecoder(strings.NewReader(tc.in))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		got, ok := canonicalJSON(nil, v)
		if !ok || string(got) != tc.want {
			t.Errorf("canonicalJSON(%s):\n got %s (ok=%v)\nwant %s", tc.in, got, ok, tc.want)
		}
	}
}

func TestBodyNonce(t *testing.T) {
	cases := []struct {
		body  string
		nonce string
		code  Code
	}{
		{`{"nonce": "1_a"}`, "1_a", ""},
		{` {"a": [1, {"nonce": "inner"}], "nonce":"1_b", "z": null} `, "1_b", ""},
		{`{"non\u0063e": "1_c"}`, "1_c", ""}, // an escaped key is still "nonce"
		{`{"n\u006fnce": 5}`, "", CodeBodyNonceInvalid},
		{`{"nonce": 5}`, "", CodeBodyNonceInvalid},
		{`{"nonce": "1\u005fd"}`, "", CodeBodyNonceInvalid},
		{`{"a": "nonce"}`, "", CodeBodyNonceMissing},
		{`{}`, "", CodeBodyNonceMissing},
		{`{"nonce": "1_a", "nonce": "1_b"}`, "", CodeInvalidJSON},
		{`[{"nonce": "1_a"}]`, "", CodeInvalidJSON},
		{`"nonce"`, "", CodeInvalidJSON},
		{``, "", CodeInvalidJSON},
		{`{"nonce": "1_a"`, "", CodeInvalidJSON},
		{`{"nonce": "1_a"} {}`, "", CodeInvalidJSON},
		{`{"nonce": "1_a",}`, "", CodeInvalidJSON},
		{`{"nonce": "1_a", "x": 01}`, "", CodeInvalidJSON},
		{`{"nonce": "1_a", "x": 1.}`, "", CodeInvalidJSON},
		{`{"nonce": "1_a", "x": NaN}`, "", CodeInvalidJSON},
		{`{"nonce": "1_a", "x": tru}`, "", CodeInvalidJSON},
		{`{"nonce": "1_a", "x": "\x"}`, "", CodeInvalidJSON},
		{"{\"nonce\": \"1_a\", \"x\": \"\x01\"}", "", CodeInvalidJSON},
		{"{\"nonce\": \"1_a\", \"x\": \"\xff\"}", "", CodeInvalidJSON},
		{`{"nonce": "1_a", "x": -1.5e+10, "y": [true, false, null, "s", {}], "u": "\u00e9"}`, "1_a", ""},
		{`{"nonce": "1_a", "deep": ` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`, "", CodeInvalidJSON},
		{`{"nonce": "1_a", "deep": ` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`, "1_a", ""},
	}
	for _, tc := range cases {
		n, code := bodyNonce([]byte(tc.body))
		if string(n) != tc.nonce || code != tc.code {
			t.Errorf("bodyNonce(%q): got %q %q, want %q %q", tc.body, n, code, tc.nonce, tc.code)
		}
	}
}

// FuzzBodyNonce checks the scanner never panics, and that whatever it
// accepts is valid JSON whose top-level "nonce" is the string it returned.
func FuzzBodyNonce(f *testing.F) {
	for _, s := range []string{`{"nonce": "1_a"}`, `{"a": [1, {"b": null}], "nonce": "x"}`, `{"n\u006fnce": "1"}`, `[]`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, code := bodyNonce(b)
		if code != "" {
			return
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("accepted invalid JSON %q: %v", b, err)
		}
		if s, ok := v["nonce"].(string); !ok || s != string(n) {
			t.Fatalf("nonce of %q: got %q, encoding/json says %v", b, n, v["nonce"])
		}
	})
}

func TestRouteMatch(t *testing.T) {
	rt := newRouteTable([]Route{
		{Path: "/healthcheck", Mode: ModePublic},
		{Path: "/stream/*", Mode: ModeEncrypted, Response: ResponseEncrypted},
		{Path: "/admin/*", Mode: ModeDeny},
	}, Route{Mode: ModeSigned})
	cases := []struct {
		path, label string
		mode        Mode
	}{
		{"/healthcheck", "/healthcheck", ModePublic},
		{"/healthcheck/x", "default", ModeSigned},
		{"/stream/", "/stream/*", ModeEncrypted},
		{"/stream/a/b", "/stream/*", ModeEncrypted},
		{"/stream", "/stream/*", ModeEncrypted},
		{"/STREAM/a", "/stream/*", ModeEncrypted},
		{"/HealthCheck", "/healthcheck", ModePublic},
		{"/healthcheck/", "/healthcheck", ModePublic},
		{"/ADMIN", "/admin/*", ModeDeny},
		{"/Admin/", "/admin/*", ModeDeny},
		{"/\u0131nternal", "default", ModeSigned},
		{"/adm\u0131n/x", "/admin/*", ModeDeny},
		{"/\u017ftream/x", "/stream/*", ModeEncrypted},
		{"/administrators", "default", ModeSigned},
		{"/streamx", "default", ModeSigned},
		{"/admin/users", "/admin/*", ModeDeny},
		{"/", "default", ModeSigned},
	}
	for _, tc := range cases {
		r := rt.match([]byte(tc.path))
		if r.label != tc.label || r.Mode != tc.mode {
			t.Errorf("match(%q): got %q %v, want %q %v", tc.path, r.label, r.Mode, tc.label, tc.mode)
		}
	}
	all := newRouteTable([]Route{{Path: "*", Mode: ModeDeny}}, Route{Mode: ModePublic})
	if r := all.match([]byte("/anything")); r.Mode != ModeDeny {
		t.Errorf("a lone * did not match everything")
	}
	if n := testing.AllocsPerRun(100, func() { rt.match([]byte("/stream/a")) }); n != 0 {
		t.Errorf("match allocates %v times, want 0", n)
	}
}

func TestErrorBodies(t *testing.T) {
	for code, a := range answers {
		body := a.body
		var b struct {
			Detail            string `json:"detail"`
			Error             string `json:"error"`
			RequiresHandshake bool   `json:"requires_handshake"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			t.Errorf("%s: body %s is not JSON: %v", code, body, err)
		}
		if b.Error != string(code) || b.Detail == "" {
			t.Errorf("%s: body %s", code, body)
		}
		if b.RequiresHandshake != (code == CodeUnknownKey) {
			t.Errorf("%s: requires_handshake %v", code, b.RequiresHandshake)
		}
		// 5xx: the app failed, or fibergate's own state keeps it from
		// judging the request now (its store, its replay guard's floor).
		if s := code.status(); s < 400 || s > 504 || (s >= 500 && code != CodeInternal && code != CodeUpstreamDown && code != CodeUpstreamTimeout && code != CodeStoreUnavailable && code != CodeNonceUnverifiable && code != CodeUpstreamTooLarge && code != CodeUpstreamInvalid) {
			t.Errorf("%s: status %d: only upstream failures and fibergate's own state may be 5xx", code, s)
		}
	}
	if !bytes.Contains(answers[CodeUnknownKey].body, []byte("No symmetric key found for that hotkey and uuid")) {
		t.Errorf("unknown_key lost Fiber's detail text")
	}
}
