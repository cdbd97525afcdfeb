package config

import (
	"reflect"
	"strings"
	"unicode"
)

// suggest returns the known keys an unknown key under path was probably
// meant to be: a sibling within a small edit distance, or failing that
// keys of the same name elsewhere in the tree. Paths are returned in full.
func suggest(known []string, path, key string, siblings []field) []string {
	if len(key) > 64 {
		return nil
	}
	norm := normalizeKey(key)
	best, bestDist := "", 3
	limit := max(1, min(2, len(norm)/3))
	for _, f := range siblings {
		if dist := editDistance(norm, f.name); dist <= limit && dist < bestDist {
			best, bestDist = f.name, dist
		}
	}
	if best != "" {
		return []string{join(path, best)}
	}
	var out []string
	for _, p := range known {
		last := p[strings.LastIndexAny(p, ".")+1:]
		if last == norm && p != join(path, norm) {
			out = append(out, p)
		}
	}
	return out
}

// normalizeKey maps the usual misspellings of a snake_case key onto it:
// upper case, dashes and camelCase.
func normalizeKey(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '-' || r == ' ':
			b.WriteByte('_')
		case unicode.IsUpper(r):
			if i > 0 && !strings.HasSuffix(b.String(), "_") && !unicode.IsUpper(rune(s[i-1])) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// editDistance is the number of single-byte insertions, deletions,
// substitutions and swaps of neighbours that turn a into b (optimal string
// alignment distance), so "levle" is one edit from "level".
func editDistance(a, b string) int {
	rows := make([][]int, len(a)+1)
	for i := range rows {
		rows[i] = make([]int, len(b)+1)
		rows[i][0] = i
	}
	for j := range rows[0] {
		rows[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(rows[i-1][j]+1, rows[i][j-1]+1, rows[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, rows[i-2][j-2]+1)
			}
			rows[i][j] = d
		}
	}
	return rows[len(a)][len(b)]
}

// knownPaths lists every key path of Config, slices written as "[]".
var knownPaths = knownPathsOf(reflect.TypeFor[Config]())

// knownPathsOf lists every key path of the config type t.
func knownPathsOf(t reflect.Type) []string {
	var out []string
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for _, f := range fieldsOf(t) {
			p := join(path, f.name)
			out = append(out, p)
			ft := t.Field(f.index).Type
			switch {
			case ft.Kind() == reflect.Struct:
				walk(ft, p)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), p+"[]")
			}
		}
	}
	walk(t, "")
	return out
}
