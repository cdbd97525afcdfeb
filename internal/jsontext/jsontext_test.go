package jsontext

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestObject(t *testing.T) {
	for _, tc := range []struct {
		in   string
		keys []string
		ok   bool
	}{
		{`{}`, nil, true},
		{` {"a": 1, "b": [1, {"c": null}], "non\u0063e": "x"} `, []string{`"a"`, `"b"`, `"non\u0063e"`}, true},
		{`[1]`, nil, false},
		{`{"a": 1`, nil, false},
		{`{"a": 1} {}`, nil, false},
		{`{"a": 01}`, nil, false},
		{"{\"a\": \"\xff\"}", nil, false},
		{`{"a": tru}`, nil, false},
		{`{"a": 1,}`, nil, false},
	} {
		var keys []string
		_, _, ok := Object([]byte(tc.in), 10, func(m Member) { keys = append(keys, string(m.Key)) })
		if ok != tc.ok || (ok && strings.Join(keys, ",") != strings.Join(tc.keys, ",")) {
			t.Errorf("Object(%q): %v %q, want %v %q", tc.in, ok, keys, tc.ok, tc.keys)
		}
		if utf8.ValidString(tc.in) && ok != json.Valid([]byte(tc.in)) && strings.HasPrefix(strings.TrimSpace(tc.in), "{") {
			t.Errorf("Object(%q) = %v, encoding/json says %v", tc.in, ok, !ok)
		}
	}
}

// Containers nest at most maxNest levels below the object.
func TestNesting(t *testing.T) {
	nested := func(n int) []byte {
		return []byte(`{"a": ` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`)
	}
	if _, _, ok := Object(nested(5), 5, nil); !ok {
		t.Error("5 levels refused with a limit of 5")
	}
	if _, _, ok := Object(nested(6), 5, nil); ok {
		t.Error("6 levels accepted with a limit of 5")
	}
}

func TestKeyIs(t *testing.T) {
	for key, want := range map[string]bool{`"nonce"`: true, `"non\u0063e"`: true, `"Nonce"`: false, `"nonce "`: false, `"\u006e\u006f\u006e\u0063\u0065"`: true} {
		m := Member{Key: []byte(key), Escaped: strings.Contains(key, `\`)}
		if got := m.KeyIs("nonce"); got != want {
			t.Errorf("KeyIs(%s) = %v, want %v", key, got, want)
		}
	}
}

func FuzzObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,2,{"b":"c"}]}`, `{"nonce":"1_a"}`, `[`, `{"a":1e5}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _, ok := Object([]byte(s), 10000, nil)
		var v map[string]any
		// encoding/json takes invalid UTF-8 for U+FFFD; JSON text must be
		// valid UTF-8, and Object holds it to that.
		want := utf8.ValidString(s) && json.Unmarshal([]byte(s), &v) == nil && v != nil
		if ok != want {
			t.Fatalf("Object(%q) = %v, encoding/json says %v", s, ok, want)
		}
	})
}
