package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The reference table in docs/configuration.md says what the defaults
// are: each key it lists has the default the table gives, and every key
// of serve's config is listed, so the two cannot drift apart.
func TestDocsConfigurationTable(t *testing.T) {
	c := defaults()
	y, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	checkTable(t, "configuration.md", y)
}

// The same for egress's table, in docs/egress.md.
func TestDocsEgressTable(t *testing.T) {
	c := egressDefaults()
	y, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	checkTable(t, "egress.md", y)
}

// checkTable holds the reference table of docs/<doc> to the defaults y
// (a config marshalled as YAML).
func checkTable(t *testing.T, doc string, y []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", doc))
	if err != nil {
		t.Fatal(err)
	}
	var tree map[string]any
	if err := yaml.Unmarshal(y, &tree); err != nil {
		t.Fatal(err)
	}
	leaves := map[string]any{}
	flatten("", tree, leaves)

	row := regexp.MustCompile("(?m)^\\| (`[^|]+`) \\| ([^|]+) \\|")
	tick := regexp.MustCompile("`([^`]+)`")
	documented := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		var keys []string
		for _, k := range tick.FindAllStringSubmatch(m[1], -1) {
			key := k[1]
			if len(keys) > 0 && (!strings.Contains(key, ".") || key[0] == '.') {
				parent := keys[0][:strings.LastIndexByte(keys[0], '.')+1]
				key = parent + strings.TrimPrefix(key, ".")
			}
			keys = append(keys, key)
		}
		def := strings.TrimSpace(m[2])
		defs := strings.Split(def, " / ")
		if len(defs) != len(keys) && !strings.Contains(def, "/s`") {
			defs = strings.Split(def, ", ")
		}
		for i, key := range keys {
			def := defs[0]
			if len(defs) == len(keys) {
				def = defs[i]
			}
			checkDefault(t, key, strings.TrimSpace(def), leaves, documented)
		}
	}
	for path := range leaves {
		if !coveredBy(path, documented) {
			t.Errorf("docs/%s does not list %s", doc, path)
		}
	}
}

// flatten puts every leaf of a decoded YAML tree under its dotted path.
func flatten(prefix string, v any, out map[string]any) {
	if m, ok := v.(map[string]any); ok {
		for k, sub := range m {
			flatten(prefix+k+".", sub, out)
		}
		return
	}
	out[strings.TrimSuffix(prefix, ".")] = v
}

// coveredBy reports whether path, or a key above it, is documented.
func coveredBy(path string, documented map[string]bool) bool {
	for p := path; ; {
		if documented[p] {
			return true
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			return false
		}
		p = p[:i]
	}
}

// unset are the table's words for a key with no value of its own.
var unset = map[string]bool{"empty": true, "off": true, "(one required)": true, "host of `addr`": true, "system roots": true}

// checkDefault holds the table's default for key to the config's.
func checkDefault(t *testing.T, key, def string, leaves map[string]any, documented map[string]bool) {
	t.Helper()
	documented[key] = true
	if rate := regexp.MustCompile("^`([0-9.]+)/s`, burst `([0-9]+)`$").FindStringSubmatch(def); rate != nil {
		want := map[string]string{key + ".per_second": rate[1], key + ".burst": rate[2]}
		for k, v := range want {
			if got := text(leaves[k]); got != v {
				t.Errorf("%s: the table says %s, the default is %s", k, v, got)
			}
		}
		return
	}
	if def == "off" {
		// A source or a limit that is off: its address empty or its rate 0.
		for _, k := range []string{key + ".url", key + ".per_second"} {
			if v, ok := leaves[k]; ok && text(v) != "" && text(v) != "0" {
				t.Errorf("%s: the table says off, %s is %s", key, k, text(v))
			}
		}
		return
	}
	var got []string
	for path, v := range leaves {
		if path == key || strings.HasPrefix(path, key+".") {
			got = append(got, text(v))
		}
	}
	if len(got) == 0 {
		t.Errorf("the table lists %s, which is not a key", key)
		return
	}
	if !unset[def] {
		def = strings.Trim(def, "`")
	}
	if unset[def] {
		for _, g := range got {
			if g != "" && g != "[]" && g != "0" && g != "false" {
				t.Errorf("%s: the table says %q, the default is %q", key, def, g)
			}
		}
		return
	}
	if len(got) != 1 || !sameValue(def, got[0]) {
		t.Errorf("%s: the table says %q, the default is %q", key, def, got)
	}
}

func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []any:
		if len(x) == 0 {
			return "[]"
		}
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return "?"
}

// sameValue compares a default as the table writes it with the config's:
// durations by their length.
func sameValue(doc, cfg string) bool {
	if doc == cfg {
		return true
	}
	a, err1 := time.ParseDuration(doc)
	b, err2 := time.ParseDuration(cfg)
	return err1 == nil && err2 == nil && a == b
}
