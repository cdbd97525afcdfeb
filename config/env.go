package config

import (
	"reflect"
	"sort"
	"strings"
)

// EnvPrefix starts the name of every environment variable that overrides a
// config key. The rest of the name is the key path in upper case with dots
// turned into underscores: FIBERGATE_UPSTREAM_URL sets upstream.url.
const EnvPrefix = "FIBERGATE_"

// scalarKey is one key an environment variable can override.
type scalarKey struct {
	path  string
	index []int // reflect field index path from Config
}

// envKeys maps each override variable's name to its key. It is built from
// the Config struct, so every scalar key outside a list has exactly one
// variable, and names stay unambiguous even though key names hold
// underscores themselves.
var envKeys = envKeysOf(reflect.TypeFor[Config](), EnvPrefix)

// envKeysOf maps the override variables of the config type t, each named
// prefix and its key path, to their keys.
func envKeysOf(t reflect.Type, prefix string) map[string]scalarKey {
	m := make(map[string]scalarKey)
	var walk func(t reflect.Type, path string, index []int)
	walk = func(t reflect.Type, path string, index []int) {
		for _, f := range fieldsOf(t) {
			p := join(path, f.name)
			idx := append(append([]int(nil), index...), f.index)
			switch ft := t.Field(f.index).Type; ft.Kind() {
			case reflect.Struct:
				walk(ft, p, idx)
			case reflect.Slice:
				// Lists have no single scalar to override.
			default:
				m[envName(prefix, p)] = scalarKey{path: p, index: idx}
			}
		}
	}
	walk(t, "", nil)
	return m
}

// EnvName returns the environment variable that overrides the key path,
// such as FIBERGATE_HANDSHAKE_KEY_TTL for handshake.key_ttl.
func EnvName(path string) string {
	return envName(EnvPrefix, path)
}

func envName(prefix, path string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// envMap turns an os.Environ-style list into a map; a later entry for the
// same name wins, as it does for a child process.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if name, val, ok := strings.Cut(kv, "="); ok && name != "" {
			m[name] = val
		}
	}
	return m
}

// applyEnv sets every key that has an override variable in vars. Other
// FIBERGATE_ variables, such as the one holding the storage key, are
// ignored: their values are never read here.
func (d *decoder) applyEnv(root reflect.Value, keys map[string]scalarKey, vars map[string]string) {
	names := make([]string, 0, 4)
	for name := range vars {
		if _, ok := keys[name]; ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		key, val := keys[name], vars[name]
		d.origins[key.path] = origin{env: name}
		if err := setText(root.FieldByIndex(key.index), val); err != nil {
			d.bad[key.path] = true
			d.ps.add(Problem{Key: key.path, Env: name, Value: val, Msg: err.Error()})
		}
	}
}
