package proxy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// declaredCodes reads the Code constants declared in codes.go, by source:
// a constant added there and forgotten in codeTable would otherwise
// answer as internal_error.
func declaredCodes(t *testing.T) map[Code]string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "codes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[Code]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
				continue
			}
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok {
					t.Fatalf("%s: not a string literal", name.Name)
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out[Code(v)] = name.Name
			}
		}
	}
	return out
}

// Every declared code has one row of codeTable, and every row is a
// declared code: the table is the one list.
func TestCodesComplete(t *testing.T) {
	declared := declaredCodes(t)
	seen := map[Code]bool{}
	for _, c := range Codes() {
		if seen[c] {
			t.Errorf("%s: listed twice", c)
		}
		seen[c] = true
		if _, ok := declared[c]; !ok {
			t.Errorf("%s: in codeTable but not declared", c)
		}
		if a := c.info(); a.code != c || a.detail == "" || a.status < 400 {
			t.Errorf("%s: answer %+v", c, a.codeInfo)
		}
	}
	for c, name := range declared {
		if !seen[c] {
			t.Errorf("%s (%s): declared but missing from codeTable", name, c)
		}
	}
}

// Codes hands out a copy: a caller cannot change the list.
func TestCodesIsACopy(t *testing.T) {
	a := Codes()
	a[0] = "changed"
	if got := Codes()[0]; got != CodeMissingHeader {
		t.Errorf("Codes()[0] after changing a returned slice: got %q, want %q", got, CodeMissingHeader)
	}
}

// The reference's error table (docs/answers.md, linked from the README)
// says what codeTable says: each code under its status, every code there,
// none that is not.
func TestREADMEErrorTable(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "docs", "answers.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "## Error codes")
	if start < 0 {
		t.Fatal(`docs/answers.md has no "## Error codes" section`)
	}
	section := text[start:]
	if end := strings.Index(section[4:], "\n#"); end >= 0 {
		section = section[:end+4]
	}
	row := regexp.MustCompile("(?m)^\\| (\\d{3}) \\| ([^|]+) \\|")
	code := regexp.MustCompile("`([a-z0-9_]+)`")
	inREADME := map[Code]int{}
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		status, _ := strconv.Atoi(m[1])
		for _, c := range code.FindAllStringSubmatch(m[2], -1) {
			if prev, ok := inREADME[Code(c[1])]; ok {
				t.Errorf("docs/answers.md: %s listed twice (%d and %d)", c[1], prev, status)
			}
			inREADME[Code(c[1])] = status
		}
	}
	for _, c := range Codes() {
		st, ok := inREADME[c]
		switch {
		case !ok:
			t.Errorf("docs/answers.md: %s (%d) missing from the error table", c, c.status())
		case st != c.status():
			t.Errorf("docs/answers.md: %s listed under %d, its status is %d", c, st, c.status())
		}
	}
	for c := range inREADME {
		if _, ok := answers[c]; !ok {
			t.Errorf("docs/answers.md: %s is not an error code", c)
		}
	}
}
