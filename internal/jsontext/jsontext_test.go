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

func TestArray(t *testing.T) {
	for _, tc := range []struct {
		in    string
		elems []string
		ok    bool
	}{
		{`[]`, nil, true},
		{` [1, "a", {"b": [2]}, null] `, []string{`1`, `"a"`, `{"b": [2]}`, `null`}, true},
		{`{"a": 1}`, nil, false},
		{`[1`, nil, false},
		{`[1] []`, nil, false},
		{`[1,]`, nil, false},
		{"[\"\xff\"]", nil, false},
		{``, nil, false},
	} {
		in := []byte(tc.in)
		var elems []string
		ok := Array(in, 10, func(start, end int) { elems = append(elems, string(in[start:end])) })
		if ok != tc.ok || (ok && strings.Join(elems, "|") != strings.Join(tc.elems, "|")) {
			t.Errorf("Array(%q): %v %q, want %v %q", tc.in, ok, elems, tc.ok, tc.elems)
		}
	}
	nested := []byte(`[` + strings.Repeat("[", 5) + strings.Repeat("]", 5) + `]`)
	if !Array(nested, 5, nil) || Array(nested, 4, nil) {
		t.Error("an array's elements do not nest as an object's members do")
	}
}

func FuzzArray(f *testing.F) {
	for _, s := range []string{`[]`, `[1,[2],{"b":"c"}]`, `[`, `{}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := 0
		ok := Array([]byte(s), 10000, func(int, int) { n++ })
		var v []json.RawMessage
		want := utf8.ValidString(s) && json.Unmarshal([]byte(s), &v) == nil && v != nil
		if ok != want || (ok && n != len(v)) {
			t.Fatalf("Array(%q) = %v with %d elements, encoding/json says %v with %d", s, ok, n, want, len(v))
		}
	})
}
