package config

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Kind says which command a config file is for.
type Kind int

const (
	// KindServe is serve's config (Config): the miner's side.
	KindServe Kind = iota
	// KindEgress is egress's config (Egress): the validator's side.
	KindEgress
)

// String returns the command the kind is for.
func (k Kind) String() string {
	if k == KindEgress {
		return "egress"
	}
	return "serve"
}

// topKeys returns the top-level YAML keys of the config type t.
func topKeys(t reflect.Type) []string {
	var out []string
	for _, f := range fieldsOf(t) {
		out = append(out, f.name)
	}
	return out
}

var (
	serveTop  = topKeys(reflect.TypeFor[Config]())
	egressTop = topKeys(reflect.TypeFor[Egress]())
)

// DetectKind tells a serve config from an egress config by its top-level
// keys: a key only one of them has (upstream, miner, validators, ... for
// serve; validator, miners, timeouts, ... for egress) decides. A file with
// keys only both share, or none, is taken as serve's, as before egress
// existed; a file with keys of both is an error naming one of each. YAML
// that does not parse is left to the parser to report: it is taken as
// serve's.
func DetectKind(data []byte) (Kind, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil || len(doc.Content) == 0 {
		return KindServe, nil
	}
	root := resolveAlias(doc.Content[0])
	if root == nil || root.Kind != yaml.MappingNode {
		return KindServe, nil
	}
	var serveOnly, egressOnly string
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i].Value
		inServe, inEgress := slices.Contains(serveTop, k), slices.Contains(egressTop, k)
		switch {
		case inServe && !inEgress && serveOnly == "":
			serveOnly = k
		case inEgress && !inServe && egressOnly == "":
			egressOnly = k
		}
	}
	switch {
	case serveOnly != "" && egressOnly != "":
		return KindServe, fmt.Errorf("the file mixes keys of serve's config (%s) and egress's (%s); give --kind serve or --kind egress to check it as one of them", serveOnly, egressOnly)
	case egressOnly != "":
		return KindEgress, nil
	}
	return KindServe, nil
}

// ParseKind reads a --kind value: serve, egress or auto (KindAuto).
func ParseKind(s string) (k Kind, auto bool, err error) {
	switch strings.ToLower(s) {
	case "serve":
		return KindServe, false, nil
	case "egress":
		return KindEgress, false, nil
	case "", "auto":
		return KindServe, true, nil
	}
	return KindServe, false, fmt.Errorf("--kind %q: want serve, egress or auto", s)
}
