package config

import (
	"bytes"
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// Marshal returns the effective configuration as YAML, every key present,
// durations and sizes in their short forms ("5h", "10MiB"). A value set by
// an environment variable carries a comment naming it. Parse reads the
// output back to an equal Config. The output holds no secret: the config
// only ever names where secrets are.
func (c *Config) Marshal() ([]byte, error) {
	return marshal(reflect.ValueOf(c).Elem(), c.origins)
}

// marshal writes the config struct v as YAML, as Marshal describes.
func marshal(v reflect.Value, origins map[string]origin) ([]byte, error) {
	root, err := encode(v, "", origins)
	if err != nil {
		return nil, fmt.Errorf("marshaling config: %w", err)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("marshaling config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("marshaling config: %w", err)
	}
	return buf.Bytes(), nil
}

var textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()

func encode(v reflect.Value, path string, origins map[string]origin) (*yaml.Node, error) {
	t := v.Type()
	n := &yaml.Node{Kind: yaml.ScalarNode}
	switch {
	case t == durationType:
		n.Tag, n.Value = "!!str", formatDuration(time.Duration(v.Int()))
	case t.Implements(textMarshalerType):
		b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		n.Value = string(b) // untagged: a plain byte count stays a number
	case t.Kind() == reflect.String:
		n.Tag, n.Value = "!!str", v.String()
	case t.Kind() == reflect.Bool:
		n.Value = strconv.FormatBool(v.Bool())
	case t.Kind() == reflect.Int:
		n.Value = strconv.FormatInt(v.Int(), 10)
	case t.Kind() == reflect.Float64:
		n.Value = strconv.FormatFloat(v.Float(), 'f', -1, 64)
	case t.Kind() == reflect.Struct:
		n.Kind = yaml.MappingNode
		for _, f := range fieldsOf(t) {
			p := join(path, f.name)
			val, err := encode(v.Field(f.index), p, origins)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: f.name}, val)
		}
		return n, nil
	case t.Kind() == reflect.Slice:
		n.Kind = yaml.SequenceNode
		for i := 0; i < v.Len(); i++ {
			e, err := encode(v.Index(i), path+"["+strconv.Itoa(i)+"]", origins)
			if err != nil {
				return nil, err
			}
			e.Style = yaml.FlowStyle
			n.Content = append(n.Content, e)
		}
		if v.Len() == 0 {
			n.Style = yaml.FlowStyle
		}
		return n, nil
	default:
		return nil, fmt.Errorf("%s: unsupported type %s", path, t)
	}
	if o := origins[path]; o.env != "" {
		n.LineComment = "from " + o.env
	}
	return n, nil
}
