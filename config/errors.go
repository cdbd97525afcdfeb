package config

import (
	"sort"
	"strconv"
	"strings"
)

// maxProblems bounds a report, so a hostile or badly broken file (aliases
// repeating a mapping of unknown keys) cannot make one of unbounded size.
const maxProblems = 100

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Key is the key path, such as "upstream.url" or "routes[2].path";
	// empty for problems with the file as a whole.
	Key string
	// Line is the 1-based line in the file, or 0 when the value did not
	// come from the file (a default or an environment variable).
	Line int
	// Env is the environment variable that set the value, if one did.
	Env string
	// Value is the offending value as written; empty when the problem is a
	// missing or unknown key.
	Value string
	// Msg says what is wrong and what is allowed.
	Msg string
}

// format writes the problem as one line, located in source.
func (p Problem) format(source string) string {
	var b strings.Builder
	switch {
	case p.Env != "":
		b.WriteString("environment variable ")
		b.WriteString(p.Env)
	case p.Line > 0:
		b.WriteString(source)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(p.Line))
	default:
		b.WriteString(source)
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	if p.Value != "" {
		v := p.Value
		if len(v) > 80 {
			v = v[:77] + "..."
		}
		b.WriteString(strconv.Quote(v))
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error reports every problem found in one configuration. Load and Parse
// return it (as *Error) for any problem with the content; errors.As finds
// it.
type Error struct {
	// Source names the configuration, usually its file path.
	Source string
	// Problems are in file order; those without a line come last.
	Problems []Problem
}

// Error returns one line per problem, each starting with its location.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.format(e.Source)
	}
	return strings.Join(lines, "\n")
}

// problems collects Problems up to maxProblems.
type problems struct {
	list      []Problem
	truncated bool
}

func (ps *problems) add(p Problem) {
	if len(ps.list) >= maxProblems {
		ps.truncated = true
		return
	}
	ps.list = append(ps.list, p)
}

// full reports whether no more problems will be kept, so walkers can stop.
func (ps *problems) full() bool { return len(ps.list) >= maxProblems }

// err returns the collected problems as an *Error, or nil when there are none.
func (ps *problems) err(source string) error {
	if len(ps.list) == 0 {
		return nil
	}
	list := append([]Problem(nil), ps.list...)
	sort.SliceStable(list, func(i, j int) bool {
		li, lj := list[i].Line, list[j].Line
		if (li == 0) != (lj == 0) {
			return lj == 0
		}
		return li < lj
	})
	if ps.truncated {
		list = append(list, Problem{Msg: "too many problems; stopped after " + strconv.Itoa(maxProblems)})
	}
	return &Error{Source: source, Problems: list}
}
