package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxFileSize bounds what Load reads; a real config is a few KiB.
const maxFileSize = 1 << 20

// Load reads the YAML file at path and parses it as Parse does, naming the
// file in every problem. env is the process environment in os.Environ form.
func Load(path string, env []string) (*Config, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path, env)
}

// Parse decodes a YAML configuration over the defaults, applies the
// FIBERGATE_<PATH> overrides found in env (os.Environ form, KEY=value; a
// later entry wins), expands a leading ~ in paths with env's HOME, and
// validates the result. source names the configuration in problems. Every
// problem found is returned together in an *Error; on any problem the
// Config is nil.
func Parse(data []byte, source string, env []string) (*Config, error) {
	c := defaults()
	c.origins = make(map[string]origin)
	shadow := defaults()
	var ps problems
	vars, d := decodeInto(data, &c, &shadow, c.origins, serveSchema, env, &ps)
	if d == nil {
		return nil, ps.err(source)
	}
	k := &checker{c: &c, origins: c.origins, ps: &ps, bad: d.bad}
	k.normalize(vars)
	k.validate()
	if err := ps.err(source); err != nil {
		return nil, err
	}
	return &c, nil
}

// schema is what the decoder knows of a kind of config file: its key
// paths (for suggestions) and its override variables.
type schema struct {
	known []string
	env   map[string]scalarKey
}

// serveSchema is the schema of serve's Config.
var serveSchema = schema{known: knownPathsOf(reflect.TypeFor[Config]()), env: envKeys}

// decodeInto decodes data over the defaults already in *dst, checks it
// once more with yaml's strict decoder against shadow (another copy of the
// defaults), records each key's origin, and applies the overrides in env.
// It returns the environment as a map and the decoder, or a nil decoder
// when the YAML was unusable; problems go to ps.
func decodeInto(data []byte, dst, shadow any, origins map[string]origin, s schema, env []string, ps *problems) (map[string]string, *decoder) {
	d := &decoder{ps: ps, origins: origins, bad: make(map[string]bool), known: s.known}
	root, ok := d.parseDocument(data)
	if !ok {
		return nil, nil
	}
	v := reflect.ValueOf(dst).Elem()
	if root != nil {
		d.decodeStruct(root, v, "")
	}
	if len(ps.list) == 0 {
		strictCheck(data, shadow, ps)
	}
	vars := envMap(env)
	d.applyEnv(v, s.env, vars)
	return vars, d
}

// origin is where a key's value came from: a line of the file, or an
// environment variable. The zero origin is a default.
type origin struct {
	line int
	env  string
}

// decoder walks the YAML node tree against the Config struct. It does the
// strict decoding itself, rather than leaving it to yaml's KnownFields,
// because it must know each value's key path and line to report problems
// one per key, all together.
type decoder struct {
	ps      *problems
	origins map[string]origin
	bad     map[string]bool // key paths that failed to decode
	known   []string        // every key path of the root type, for suggestions
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlParserProblems start the messages of yaml's parser (as opposed to its
// scanner). The yaml package numbers the lines of these from 0, and leaves
// the number out on the first line, so syntaxProblem adds one.
var yamlParserProblems = []string{"did not find expected", "found undefined tag handle", "found duplicate %", "found incompatible YAML document"}

// syntaxProblem turns an error from the yaml package into a Problem with a
// line where the message carries one.
func syntaxProblem(err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	for _, p := range yamlParserProblems {
		if strings.HasPrefix(msg, p) {
			line++
			break
		}
	}
	return Problem{Line: line, Msg: "invalid YAML: " + msg}
}

// parseDocument parses data into a node tree and returns its root mapping,
// or nil for an empty document. ok is false when the YAML is unusable.
func (d *decoder) parseDocument(data []byte) (root *yaml.Node, ok bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return nil, true
	case err != nil:
		d.ps.add(syntaxProblem(err))
		return nil, false
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.ps.add(syntaxProblem(err))
		return nil, false
	default:
		d.ps.add(Problem{Line: extra.Line, Msg: "a second YAML document; the file must hold one"})
		return nil, false
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, true
	}
	root = resolveAlias(doc.Content[0])
	if root == nil || isNull(root) {
		return nil, true
	}
	if root.Kind != yaml.MappingNode {
		d.ps.add(Problem{Line: root.Line, Msg: "the top level must be a mapping of keys, such as listen: and upstream:"})
		return nil, false
	}
	return root, true
}

// strictCheck decodes data once more with yaml's own strict decoder
// (KnownFields) and reports anything it refuses. The walker is stricter
// in every respect, so this should never add a problem; it guards against
// the walker and the struct tags drifting apart.
func strictCheck(data []byte, shadow any, ps *problems) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(shadow)
	if err == nil || errors.Is(err, io.EOF) {
		return
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		ps.add(syntaxProblem(err))
		return
	}
	for _, e := range te.Errors {
		p := Problem{Msg: "strict decoding: " + e}
		if l, rest, ok := strings.Cut(e, ": "); ok && strings.HasPrefix(l, "line ") {
			if n, err := strconv.Atoi(strings.TrimPrefix(l, "line ")); err == nil {
				p.Line, p.Msg = n, "strict decoding: "+rest
			}
		}
		ps.add(p)
	}
}

func (d *decoder) fail(path string, n *yaml.Node, value, msg string) {
	d.bad[path] = true
	d.ps.add(Problem{Key: path, Line: n.Line, Value: value, Msg: msg})
}

// resolveAlias follows aliases to the node they name; nil when the chain
// does not end.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i == 16 {
			return nil
		}
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

type field struct {
	name  string
	index int
}

// fieldsOf returns the YAML keys of struct type t in declaration order.
func fieldsOf(t reflect.Type) []field {
	var fs []field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fs = append(fs, field{name: name, index: i})
	}
	return fs
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n, "", "must be a mapping of keys, not "+kindName(n))
		return
	}
	fields := fieldsOf(v.Type())
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content) && !d.ps.full(); i += 2 {
		k, val := resolveAlias(n.Content[i]), resolveAlias(n.Content[i+1])
		if k == nil || val == nil {
			d.fail(path, n.Content[i], "", "an alias that never resolves")
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(path, k, "", "keys must be plain names, not "+kindName(k))
			continue
		}
		child := join(path, k.Value)
		idx := -1
		for _, f := range fields {
			if f.name == k.Value {
				idx = f.index
				break
			}
		}
		if idx < 0 {
			msg := "unknown key"
			if k.Value == "<<" {
				msg = "merge keys (<<) are not supported; write the keys out"
			} else if hints := suggest(d.known, path, k.Value, fields); len(hints) > 0 {
				for i, h := range hints {
					hints[i] = strconv.Quote(h)
				}
				msg += " (did you mean " + strings.Join(hints, " or ") + "?)"
			}
			d.fail(child, k, "", msg)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(child, k, "", "duplicate key; first given on line "+strconv.Itoa(first))
			continue
		}
		seen[k.Value] = k.Line
		if isNull(val) {
			continue // an empty value keeps the default
		}
		d.origins[child] = origin{line: k.Line}
		d.decodeValue(val, v.Field(idx), child)
	}
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	}
	return "this"
}

// decodeValue decodes the node n into v, whose key path is path. It accepts
// a subset of what yaml itself would: no number for a duration, no string
// for a number, no truncating a float into an integer.
func (d *decoder) decodeValue(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	switch {
	case t.Kind() == reflect.Struct:
		d.decodeStruct(n, v, path)
		return
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(path, n, "", "must be a list, not "+kindName(n))
			return
		}
		if len(n.Content) == 0 {
			v.Set(reflect.Zero(t)) // an empty list is no list, as when absent
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, e := range n.Content {
			if d.ps.full() {
				break
			}
			p := path + "[" + strconv.Itoa(i) + "]"
			d.origins[p] = origin{line: e.Line}
			if e = resolveAlias(e); e == nil {
				d.fail(p, n, "", "an alias that never resolves")
				continue
			}
			if isNull(e) {
				continue // validation reports the missing keys
			}
			d.decodeValue(e, s.Index(i), p)
		}
		v.Set(s)
		return
	}

	if n.Kind != yaml.ScalarNode {
		d.fail(path, n, "", "must be a single value, not "+kindName(n))
		return
	}
	tag := n.ShortTag()
	var err error
	switch {
	case t == durationType:
		if tag == "!!int" || tag == "!!float" {
			err = errors.New(durationHelp)
		} else {
			err = setText(v, n.Value)
		}
	case reflect.PointerTo(t).Implements(textUnmarshalerType), t.Kind() == reflect.String:
		err = setText(v, n.Value)
	case t.Kind() == reflect.Bool:
		err = decodeTagged(n, v, tag, "want true or false", "!!bool")
	case t.Kind() == reflect.Int:
		err = decodeTagged(n, v, tag, "want a whole number", "!!int")
	case t.Kind() == reflect.Float64:
		err = decodeTagged(n, v, tag, "want a number", "!!int", "!!float")
	default:
		err = fmt.Errorf("unsupported type %s", t)
	}
	if err != nil {
		d.fail(path, n, n.Value, err.Error())
	}
}

// decodeTagged lets yaml decode n into v when n's resolved tag is one of
// tags, and refuses it with want otherwise.
func decodeTagged(n *yaml.Node, v reflect.Value, tag, want string, tags ...string) error {
	for _, t := range tags {
		if tag == t {
			if err := n.Decode(v.Addr().Interface()); err != nil {
				return errors.New(want + " in range")
			}
			return nil
		}
	}
	return errors.New(want)
}

// setText parses s into the scalar v. It is the parser for environment
// overrides and for the YAML values that are text by nature.
func setText(v reflect.Value, s string) error {
	t := v.Type()
	switch {
	case t == durationType:
		dur, err := parseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(dur))
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		return v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s))
	case t.Kind() == reflect.String:
		v.SetString(s)
	case t.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("want true or false")
		}
		v.SetBool(b)
	case t.Kind() == reflect.Int:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v.OverflowInt(i) {
			return errors.New("want a whole number")
		}
		v.SetInt(i)
	case t.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return errors.New("want a number")
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("unsupported type %s", t)
	}
	return nil
}
